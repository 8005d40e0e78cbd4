//! AWS Organizations calls: the `ACTIVE` accounts under OUs, child OUs included, every page.
//! Made from the management account (or an Organizations delegated administrator).

use std::collections::BTreeSet;

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use caretaker_shared::aws::AwsError;

/// The active accounts under each parent, walking child OUs breadth first.
pub(crate) async fn active_accounts(
    org: &Client,
    parents: &[String],
) -> Result<BTreeSet<String>, AwsError> {
    let mut out = BTreeSet::new();
    let mut queue: Vec<String> = parents.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(parent) = queue.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        let mut pages = org
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::new("organizations", "ListAccountsForParent", &e).on(&parent)
            })?;
            for a in page.accounts.unwrap_or_default() {
                // `State` replaces the deprecated `Status` (which emulators still send alone).
                #[allow(deprecated)]
                let active = match (&a.state, &a.status) {
                    (Some(state), _) => *state == AccountState::Active,
                    (None, status) => *status == Some(AccountStatus::Active),
                };
                if active && let Some(id) = a.id {
                    out.insert(id);
                }
            }
        }
        let mut pages = org
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::new("organizations", "ListOrganizationalUnitsForParent", &e).on(&parent)
            })?;
            queue.extend(
                page.organizational_units
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|ou| ou.id),
            );
        }
    }
    Ok(out)
}
