//! The rotation protocol: Secrets Manager calls this function four times per rotation, once per
//! step, with the same token. Every step is safe to run twice: each first checks the version's
//! stages (`domain::gate`) and the state it would create (pending value present, password already
//! set, stage already moved), so a retry or a replay does nothing it has already done.

use lambda_runtime::LambdaEvent;
use tracing::info;

use caretaker_shared::incoming::Incoming;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::Invocation;

use crate::config::Strategy;
use crate::db::DbError;
use crate::domain::{self, CURRENT, Gate, PENDING, Step};
use crate::error::RotatorError;
use crate::event::{Command, RotationEvent};
use crate::secret::DbSecret;
use crate::{Deps, FUNCTION};

pub mod check;
mod set;

/// Lambda entry: parse, run the step or the command, log and return the report. A step's token
/// correlates the four steps of one rotation.
pub async fn handle(event: LambdaEvent<Incoming>, deps: &Deps) -> Result<RunReport, RotatorError> {
    let parsed = event.payload.into_value().and_then(Command::parse);
    let token = match &parsed {
        Ok(Command::Step(e)) => Some(e.client_request_token.clone()),
        _ => None,
    };
    Invocation::new(FUNCTION, &event.context, token)
        .run(async {
            match parsed? {
                Command::Step(ev) => {
                    let result = run_step(deps, &ev).await;
                    let counter = if result.is_ok() {
                        "RotationStepSucceeded"
                    } else {
                        "RotationStepFailed"
                    };
                    metrics::counter!(counter).increment(1);
                    result
                }
                Command::Resume { dry_run, at } => {
                    Ok(check::resume(deps, dry_run, as_of(at)).await)
                }
                Command::Check { dry_run, at } => Ok(check::check(deps, dry_run, as_of(at)).await),
                Command::RotationFailed { secret_id, at } => {
                    Ok(check::rotation_failed(deps, &secret_id, at.as_deref()).await)
                }
            }
        })
        .await
}

/// The time a command runs as: `at` when it is later than now (a rehearsal of a later hour),
/// else now. Never earlier: an earlier clock could not make a running rotation look stalled, but
/// it could hide an overdue secret.
fn as_of(at: Option<chrono::DateTime<chrono::Utc>>) -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    at.map_or(now, |at| at.max(now))
}

/// Run one step of the protocol.
pub async fn run_step(deps: &Deps, ev: &RotationEvent) -> Result<RunReport, RotatorError> {
    let step = Step::parse(&ev.step)?;
    let secret = ev.secret_id.as_str();
    let token = ev.client_request_token.as_str();
    let mut report =
        RunReport::new(FUNCTION, step.as_str(), false).with_correlation_id(Some(token.to_owned()));

    // The step's reads go out beside DescribeSecret, but nothing is used, let alone written,
    // before the gate has checked DescribeSecret's answer (rotation enabled, the token's stage).
    let (meta, reads) = tokio::join!(
        deps.store.describe(secret),
        Reads::fetch(deps, step, secret, token)
    );
    let meta = meta?;
    let outcome = match domain::gate(secret, meta.rotation_enabled, &meta.versions, token)? {
        Gate::AlreadyCurrent => Outcome::skipped(format!("version {token} is already AWSCURRENT")),
        Gate::Proceed => match (step, reads?) {
            (Step::Create, r) => create(deps, ev, r).await?,
            (Step::Set, r) => set::set(deps, secret, r).await?,
            (Step::Test, r) => test(deps, secret, r).await?,
            (Step::Finish, _) => finish(deps, secret, token, &meta.versions).await?,
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

/// The values a step reads, fetched at the same time: AWSCURRENT (create, set) and the token's
/// AWSPENDING (create, set, test). Raw JSON until a step parses what it uses.
pub(super) struct Reads {
    current: Option<String>,
    pending: Option<String>,
}

impl Reads {
    async fn fetch(
        deps: &Deps,
        step: Step,
        secret: &str,
        token: &str,
    ) -> Result<Reads, RotatorError> {
        let current = matches!(step, Step::Create | Step::Set);
        let pending = matches!(step, Step::Create | Step::Set | Step::Test);
        let (c, p) = tokio::join!(
            async {
                match current {
                    true => deps.store.get(secret, CURRENT, None).await,
                    false => Ok(None),
                }
            },
            async {
                match pending {
                    true => deps.store.get(secret, PENDING, Some(token)).await,
                    false => Ok(None),
                }
            }
        );
        Ok(Reads {
            current: c?,
            pending: p?,
        })
    }

    pub(super) fn current(&self, secret: &str) -> Result<DbSecret, RotatorError> {
        required(
            secret,
            CURRENT,
            parse(secret, CURRENT, self.current.as_deref())?,
        )
    }

    pub(super) fn pending(&self, secret: &str) -> Result<DbSecret, RotatorError> {
        required(
            secret,
            PENDING,
            parse(secret, PENDING, self.pending.as_deref())?,
        )
    }
}

fn parse(secret: &str, stage: &str, json: Option<&str>) -> Result<Option<DbSecret>, RotatorError> {
    json.map(|j| {
        DbSecret::parse(j).map_err(|reason| RotatorError::BadSecret {
            secret: secret.to_owned(),
            stage: stage.to_owned(),
            reason,
        })
    })
    .transpose()
}

fn required(secret: &str, stage: &str, s: Option<DbSecret>) -> Result<DbSecret, RotatorError> {
    s.ok_or_else(|| RotatorError::MissingVersion {
        secret: secret.to_owned(),
        stage: stage.to_owned(),
    })
}

/// A version's value, read when needed (AWSPREVIOUS, after an interrupted rotation).
pub(super) async fn load(
    deps: &Deps,
    secret: &str,
    stage: &str,
    version: Option<&str>,
) -> Result<Option<DbSecret>, RotatorError> {
    let json = deps.store.get(secret, stage, version).await?;
    parse(secret, stage, json.as_deref())
}

/// createSecret: a new version with a fresh password (and, alternating, the other user).
async fn create(deps: &Deps, ev: &RotationEvent, reads: Reads) -> Result<Outcome, RotatorError> {
    let (secret, token) = (ev.secret_id.as_str(), ev.client_request_token.as_str());
    let current = reads.current(secret)?;
    if reads.pending.is_some() {
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

/// A database that is stopped (or starting, or rebooting) cannot take a login: the step stops
/// here with a retryable error naming it, before a connection attempt times out, and the
/// rotation waits (`check::resume` finishes it once the database is available). A secret whose
/// host is not an RDS endpoint and names no database is not looked up.
pub(super) async fn awake(deps: &Deps, secret: &str, s: &DbSecret) -> Result<(), RotatorError> {
    let Some(database) = s.database() else {
        return Ok(());
    };
    match crate::aws::db_status(&deps.rds, &database).await? {
        Some(status) if !domain::can_log_in(&status) => Err(RotatorError::DatabaseAsleep {
            secret: secret.to_owned(),
            database,
            status,
        }),
        _ => Ok(()),
    }
}

pub(super) fn db_err(what: impl Into<String>) -> impl FnOnce(DbError) -> RotatorError {
    let what = what.into();
    move |source| RotatorError::Database { what, source }
}

/// testSecret: log in with the pending credentials and run a query. Stands alone, since Secrets
/// Manager runs it by itself when a secret is created with `RotateImmediately = false`.
async fn test(deps: &Deps, secret: &str, reads: Reads) -> Result<Outcome, RotatorError> {
    let pending = reads.pending(secret)?;
    awake(deps, secret, &pending).await?;
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
