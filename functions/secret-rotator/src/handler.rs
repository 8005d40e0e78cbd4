//! The rotation protocol: Secrets Manager calls this function four times per rotation, once per
//! step, with the same token. Every step is safe to run twice: each first checks the version's
//! stages (`domain::gate`) and the state it would create (pending value present, password already
//! set, stage already moved), so a retry or a replay does nothing it has already done.

use lambda_runtime::LambdaEvent;
use secrecy::SecretString;
use tracing::info;

use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::Invocation;

use crate::config::Strategy;
use crate::db::{self, DbError};
use crate::domain::{self, CURRENT, Gate, PENDING, PREVIOUS, Step};
use crate::error::RotatorError;
use crate::event::RotationEvent;
use crate::secret::{DbSecret, MasterSecret};
use crate::{Deps, FUNCTION};

/// Lambda entry: parse, rotate one step, log and return the report. The token correlates the
/// four steps of one rotation.
pub async fn handle(
    event: LambdaEvent<serde_json::Value>,
    deps: &Deps,
) -> Result<RunReport, RotatorError> {
    let parsed = RotationEvent::parse(event.payload);
    let token = parsed.as_ref().ok().map(|e| e.client_request_token.clone());
    Invocation::new(FUNCTION, &event.context, token)
        .run(async {
            let result = run_step(deps, &parsed?).await;
            let counter = if result.is_ok() {
                "RotationStepSucceeded"
            } else {
                "RotationStepFailed"
            };
            metrics::counter!(counter).increment(1);
            result
        })
        .await
}

/// Run one step of the protocol.
pub async fn run_step(deps: &Deps, ev: &RotationEvent) -> Result<RunReport, RotatorError> {
    let step = Step::parse(&ev.step)?;
    let secret = ev.secret_id.as_str();
    let token = ev.client_request_token.as_str();
    let mut report =
        RunReport::new(FUNCTION, step.as_str(), false).with_correlation_id(Some(token.to_owned()));

    let meta = deps.store.describe(secret).await?;
    let outcome = match domain::gate(secret, meta.rotation_enabled, &meta.versions, token)? {
        Gate::AlreadyCurrent => Outcome::skipped(format!("version {token} is already AWSCURRENT")),
        Gate::Proceed => match step {
            Step::Create => create(deps, ev).await?,
            Step::Set => set(deps, secret, token).await?,
            Step::Test => test(deps, secret, token).await?,
            Step::Finish => finish(deps, secret, token, &meta.versions).await?,
        },
    };
    info!(secret = %secret, step = step.as_str(), token = %token, outcome = ?outcome, "step done");
    report
        .record("secret", secret, outcome)
        .detail("token", token)
        .detail(
            "strategy",
            match deps.config.strategy {
                Strategy::SingleUser => "single-user",
                Strategy::AlternatingUsers => "alternating-users",
            },
        );
    Ok(report.finish())
}

async fn load(
    deps: &Deps,
    secret: &str,
    stage: &str,
    version: Option<&str>,
) -> Result<Option<DbSecret>, RotatorError> {
    match deps.store.get(secret, stage, version).await? {
        None => Ok(None),
        Some(json) => DbSecret::parse(&json)
            .map(Some)
            .map_err(|reason| RotatorError::BadSecret {
                secret: secret.to_owned(),
                stage: stage.to_owned(),
                reason,
            }),
    }
}

async fn must_load(
    deps: &Deps,
    secret: &str,
    stage: &str,
    version: Option<&str>,
) -> Result<DbSecret, RotatorError> {
    load(deps, secret, stage, version)
        .await?
        .ok_or_else(|| RotatorError::MissingVersion {
            secret: secret.to_owned(),
            stage: stage.to_owned(),
        })
}

/// createSecret: a new version with a fresh password (and, alternating, the other user).
async fn create(deps: &Deps, ev: &RotationEvent) -> Result<Outcome, RotatorError> {
    let (secret, token) = (ev.secret_id.as_str(), ev.client_request_token.as_str());
    let current = must_load(deps, secret, CURRENT, None).await?;
    if deps
        .store
        .get(secret, PENDING, Some(token))
        .await?
        .is_some()
    {
        return Ok(Outcome::skipped("pending version already has a value"));
    }
    let username = match deps.config.strategy {
        Strategy::SingleUser => current.username.clone(),
        Strategy::AlternatingUsers => domain::alternate_username(&current.username)?,
    };
    let password = deps
        .store
        .random_password(secret, &deps.config.password)
        .await?;
    deps.store
        .put_pending(
            secret,
            token,
            current.to_json_with(&username, &password),
            ev.rotation_token.as_deref(),
        )
        .await?;
    Ok(Outcome::changed(format!(
        "created AWSPENDING version for user {username}"
    )))
}

fn db_err(what: impl Into<String>) -> impl FnOnce(DbError) -> RotatorError {
    let what = what.into();
    move |source| RotatorError::Database { what, source }
}

/// setSecret: make the database accept the pending credentials.
async fn set(deps: &Deps, secret: &str, token: &str) -> Result<Outcome, RotatorError> {
    let current = must_load(deps, secret, CURRENT, None).await?;
    let pending = must_load(deps, secret, PENDING, Some(token)).await?;
    if pending.host != current.host {
        return Err(RotatorError::Mismatch(format!(
            "pending host {} differs from current host {} in secret {secret}",
            pending.host, current.host
        )));
    }
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
            db::set_password(&session, &pending.username, &pending.password)
                .await
                .map_err(db_err(format!(
                    "setting the password of {}",
                    pending.username
                )))?;
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
        db::set_password(&session, &pending.username, &pending.password)
            .await
            .map_err(db_err(format!(
                "setting the password of {}",
                pending.username
            )))?;
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
        db::set_password(&session, &pending.username, &pending.password)
            .await
            .map_err(db_err(format!(
                "setting the password of {}",
                pending.username
            )))?;
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

/// testSecret: log in with the pending credentials and run a query. Stands alone, since Secrets
/// Manager runs it by itself when a secret is created with `RotateImmediately = false`.
async fn test(deps: &Deps, secret: &str, token: &str) -> Result<Outcome, RotatorError> {
    let pending = must_load(deps, secret, PENDING, Some(token)).await?;
    let session = deps
        .connector
        .connect(&pending)
        .await
        .map_err(db_err(format!(
            "logging in with the pending credentials of {}",
            pending.username
        )))?;
    let user = session
        .probe()
        .await
        .map_err(db_err("running the test query"))?;
    Ok(Outcome::skipped(format!(
        "pending credentials log in as {user}"
    )))
}

/// finishSecret: move AWSCURRENT to the token's version.
async fn finish(
    deps: &Deps,
    secret: &str,
    token: &str,
    versions: &std::collections::HashMap<String, Vec<String>>,
) -> Result<Outcome, RotatorError> {
    let from = domain::current_version(versions);
    deps.store.promote(secret, token, from).await?;
    Ok(Outcome::changed(format!(
        "moved AWSCURRENT to {token}{}",
        from.map(|f| format!(" from {f}")).unwrap_or_default()
    )))
}

/// Convenience for tools and tests: the password of a version, if any.
pub fn password_of(s: &DbSecret) -> &SecretString {
    &s.password
}
