//! The accounts of the configured OUs, as AWS Organizations lists them, cached in the memory
//! table (`dev-scheduler#org`) for `ORG_CACHE_MINUTES`: one listing an hour, not one a run.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::Deps;
use crate::accounts::Listing;

/// The OUs' active accounts (empty when no OU is configured). `Err` carries what went wrong and
/// the last listing there is (empty when none), for the run to go on with.
pub(crate) async fn found(
    deps: &Deps,
    now: DateTime<Utc>,
) -> Result<BTreeSet<String>, (String, BTreeSet<String>)> {
    let source = &deps.config.org;
    if source.ous.is_empty() {
        return Ok(BTreeSet::new());
    }
    let cached: Option<Listing> = match &deps.state {
        Some(state) => state.load_org().await.ok().flatten(),
        None => None,
    };
    if let Some(l) = &cached
        && l.fresh(source, now)
    {
        return Ok(l.accounts.clone());
    }
    match crate::org::active_accounts(&deps.organizations, &source.ous).await {
        Ok(accounts) => {
            if let Some(state) = &deps.state {
                let listing = Listing {
                    ous: source.ous.clone(),
                    at: now,
                    accounts: accounts.clone(),
                };
                // A listing not cached is asked for again next run: worth a warning, no more.
                if let Err(e) = state.save_org(&listing).await {
                    tracing::warn!(error = %e, "the OU listing was not cached");
                }
            }
            Ok(accounts)
        }
        Err(e) => Err((
            format!(
                "listing the accounts of {}: {e}; the run goes on with the listed accounts and the last listing",
                source.ous.join(", ")
            ),
            cached.map(|l| l.accounts).unwrap_or_default(),
        )),
    }
}
