//! setSecret: make the database accept the pending credentials: single user (the user's own
//! password changed, current credentials first, then previous after an interrupted rotation), or
//! alternating users (the clone made or its password set, as the master).

use caretaker_shared::report::Outcome;

use super::{Reads, db_err, load};
use crate::Deps;
use crate::config::Strategy;
use crate::db::{self};
use crate::domain::{self, CURRENT, PREVIOUS};
use crate::error::RotatorError;
use crate::secret::{DbSecret, MasterSecret};

/// setSecret: make the database accept the pending credentials.
pub(super) async fn set(deps: &Deps, secret: &str, reads: Reads) -> Result<Outcome, RotatorError> {
    let current = reads.current(secret)?;
    let pending = reads.pending(secret)?;
    if pending.host != current.host {
        return Err(RotatorError::Mismatch(format!(
            "pending host {} differs from current host {} in secret {secret}",
            pending.host, current.host
        )));
    }
    super::awake(deps, secret, &current).await?;
    match deps.config.strategy {
        Strategy::SingleUser => set_single(deps, secret, &current, &pending).await,
        Strategy::AlternatingUsers => set_alternating(deps, secret, &current, &pending).await,
    }
}

async fn set_single(
    deps: &Deps,
    secret: &str,
    current: &DbSecret,
    pending: &DbSecret,
) -> Result<Outcome, RotatorError> {
    if pending.username != current.username {
        return Err(RotatorError::Mismatch(format!(
            "pending user {} differs from current user {} (single-user rotation)",
            pending.username, current.username
        )));
    }
    // Current first: in a normal rotation it works, so the database logs no failed login.
    let first = match deps.connector.connect(current).await {
        Ok(session) => {
            set_pending(&session, pending).await?;
            return Ok(Outcome::changed(format!(
                "set new password for {} (as current)",
                pending.username
            )));
        }
        Err(e) if e.is_auth_failure() => e,
        Err(e) => return Err(db_err(format!("logging in as {}", current.username))(e)),
    };
    // A retry after the password was already set: pending logs in, nothing to do.
    if deps.connector.connect(pending).await.is_ok() {
        return Ok(Outcome::skipped("pending password already set"));
    }
    // The current password may be stale after an interrupted earlier rotation: try previous.
    if let Some(previous) = load(deps, secret, PREVIOUS, None).await?
        && previous.username == pending.username
        && previous.host == pending.host
        && let Ok(session) = deps.connector.connect(&previous).await
    {
        set_pending(&session, pending).await?;
        return Ok(Outcome::changed(format!(
            "set new password for {} (as previous)",
            pending.username
        )));
    }
    Err(db_err(format!(
        "no stored credential (current, pending, previous) logs in as {}",
        current.username
    ))(first))
}

async fn set_alternating(
    deps: &Deps,
    secret: &str,
    current: &DbSecret,
    pending: &DbSecret,
) -> Result<Outcome, RotatorError> {
    if pending.username != domain::alternate_username(&current.username)? {
        return Err(RotatorError::Mismatch(format!(
            "pending user {} is not the alternate of current user {}",
            pending.username, current.username
        )));
    }
    deps.connector
        .connect(current)
        .await
        .map_err(db_err(format!(
            "logging in as current user {}",
            current.username
        )))?;
    let master = master_login(deps, secret, current).await?;
    let session = deps
        .connector
        .connect(&master)
        .await
        .map_err(db_err(format!(
            "logging in as master user {}",
            master.username
        )))?;
    let original = domain::base_username(&current.username);
    if pending.username == original {
        set_pending(&session, pending).await?;
        return Ok(Outcome::changed(format!(
            "set new password for {}",
            pending.username
        )));
    }
    let created = db::ensure_clone(&session, original, &pending.username, &pending.password)
        .await
        .map_err(db_err(format!("preparing clone user {}", pending.username)))?;
    Ok(Outcome::changed(if created {
        format!("created user {} as a clone of {original}", pending.username)
    } else {
        format!("set new password for {}", pending.username)
    }))
}

/// The master's login: its credentials, with the connection settings of the current secret (or
/// the host and port of the database RDS tagged on an RDS-managed master secret).
async fn master_login(
    deps: &Deps,
    secret: &str,
    current: &DbSecret,
) -> Result<DbSecret, RotatorError> {
    let arn = current
        .masterarn
        .clone()
        .ok_or_else(|| RotatorError::BadSecret {
            secret: secret.to_owned(),
            stage: CURRENT.into(),
            reason: "\"masterarn\" is missing (required for alternating-users rotation)".into(),
        })?;
    let json =
        deps.store
            .get(&arn, CURRENT, None)
            .await?
            .ok_or_else(|| RotatorError::MissingVersion {
                secret: arn.clone(),
                stage: CURRENT.into(),
            })?;
    let master = DbSecret::parse_master(&json).map_err(|reason| RotatorError::BadSecret {
        secret: arn.clone(),
        stage: CURRENT.into(),
        reason,
    })?;
    match master {
        MasterSecret::Full(m) => {
            if m.host != current.host {
                return Err(RotatorError::Mismatch(format!(
                    "master secret {arn} is for host {}, the app secret for {}",
                    m.host, current.host
                )));
            }
            Ok(current.with_credentials(&m.username, &m.password))
        }
        MasterSecret::CredentialsOnly { username, password } => {
            let meta = deps.store.describe(&arn).await?;
            let (host, port) = crate::aws::rds_endpoint(&deps.rds, &arn, &meta.tags).await?;
            let mut login = current.with_credentials(&username, &password);
            login.host = host;
            login.port = port;
            Ok(login)
        }
    }
}

/// Give the pending user the pending password.
async fn set_pending(session: &db::Session, pending: &DbSecret) -> Result<(), RotatorError> {
    db::set_password(session, &pending.username, &pending.password)
        .await
        .map_err(db_err(format!(
            "setting the password of {}",
            pending.username
        )))
}
