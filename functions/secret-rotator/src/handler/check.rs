//! The rotator's own runs, beside the steps Secrets Manager calls:
//! - `resume` (hourly): a rotation that stopped because its database was not up (a dev
//!   database is stopped at night and on budget holds) is finished once the database is
//!   available: the four steps again with the same token, each safe to run twice.
//! - `check` (daily): resume, then report every managed secret that is overdue (its current
//!   credentials older than its rule plus a day), not rotated at all, or still waiting.
//! - `RotationFailed` (EventBridge): a notice naming the secret and, for a managed one, the cause
//!   the rotator can see (its database's status).

use chrono::{DateTime, Utc};
use futures::future::join_all;

use caretaker_shared::notify::{Delivery, Notification};
use caretaker_shared::report::{Outcome, RunReport};

use super::{awake, load, run_step};
use crate::domain::{self, CURRENT, Standing, Step};
use crate::error::RotatorError;
use crate::event::RotationEvent;
use crate::messages;
use crate::{Deps, FUNCTION};

/// What the rotator found about one managed secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A rotation waits for its database.
    Waiting { database: String, status: String },
    /// An unfinished rotation was finished now.
    Resumed,
    /// Finishing it failed.
    ResumeFailed { error: String },
    /// The current credentials are older than the rule plus a day.
    Overdue { age_days: i64, every_days: i64 },
    /// Nothing rotates the secret.
    RotationOff,
    /// The secret could not be read.
    Unreadable { error: String },
}

impl Finding {
    /// Whether a person must act (rather than wait for the next run).
    pub fn needs_a_person(&self) -> bool {
        !matches!(self, Finding::Waiting { .. } | Finding::Resumed)
    }
}

struct Look {
    secret: String,
    outcome: Outcome,
    finding: Option<Finding>,
    details: Vec<(&'static str, serde_json::Value)>,
}

/// The hourly run: finish what waited for its database.
pub async fn resume(deps: &Deps, dry_run: bool, now: DateTime<Utc>) -> RunReport {
    let looks = look_all(deps, dry_run, now, false).await;
    let mut report = RunReport::new(FUNCTION, "resume", dry_run);
    record(&mut report, &looks);
    notify_resumed(deps, dry_run, &looks).await;
    report.finish()
}

/// The daily run: resume, then judge every managed secret against its rule.
pub async fn check(deps: &Deps, dry_run: bool, now: DateTime<Utc>) -> RunReport {
    let looks = look_all(deps, dry_run, now, true).await;
    let mut report = RunReport::new(FUNCTION, "check", dry_run);
    record(&mut report, &looks);
    notify_resumed(deps, dry_run, &looks).await;
    let findings: Vec<(String, Finding)> = looks
        .iter()
        .filter_map(|l| l.finding.clone().map(|f| (l.secret.clone(), f)))
        .filter(|(_, f)| *f != Finding::Resumed)
        .collect();
    if !findings.is_empty() && !dry_run {
        let n = messages::check(&findings);
        let delivery = deps.notifiers.send(&n).await;
        report.record("notification", "daily check", sent(&n, &delivery));
    }
    report.finish()
}

/// Secrets Manager says a rotation failed: tell people, with what the rotator can see.
pub async fn rotation_failed(deps: &Deps, secret_id: &str, at: Option<&str>) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "rotation-failed", false);
    let managed = deps
        .config
        .managed_secrets
        .iter()
        .any(|m| domain::same_secret(m, secret_id));
    let cause = if managed {
        Some(match cause(deps, secret_id).await {
            Ok(c) => c,
            Err(e) => Err(caretaker_shared::error::chain(&e)),
        })
    } else {
        None
    };
    let n = messages::rotation_failed(secret_id, at, cause.as_ref());
    let delivery = deps.notifiers.send(&n).await;
    report.record("secret", secret_id, sent(&n, &delivery));
    report.finish()
}

/// The cause the rotator can see: `Ok(Ok(database))` when it is up (so the cause is elsewhere),
/// `Ok(Err(why))` when it is not; `Err` when it could not look.
async fn cause(deps: &Deps, secret: &str) -> Result<Result<String, String>, RotatorError> {
    let Some(current) = load(deps, secret, CURRENT, None).await? else {
        return Ok(Err(format!("{secret} has no AWSCURRENT version")));
    };
    let Some(database) = current.database() else {
        return Ok(Ok(current.host.clone()));
    };
    match awake(deps, secret, &current).await {
        Ok(()) => Ok(Ok(database.to_string())),
        Err(e @ RotatorError::DatabaseAsleep { .. }) => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

fn sent(n: &Notification, delivery: &Delivery) -> Outcome {
    match delivery.error() {
        None if delivery.delivered() == 0 => Outcome::skipped(format!(
            "no alert topic or webhook configured for: {}",
            n.title
        )),
        None => Outcome::changed(format!("alert sent: {}", n.title)),
        Some(e) => Outcome::failed(format!("alert not sent ({}): {e}", n.title)),
    }
}

async fn look_all(deps: &Deps, dry_run: bool, now: DateTime<Utc>, judge: bool) -> Vec<Look> {
    join_all(
        deps.config
            .managed_secrets
            .iter()
            .map(|s| look(deps, s, dry_run, now, judge)),
    )
    .await
}

fn record(report: &mut RunReport, looks: &[Look]) {
    for l in looks {
        let r = report.record("secret", &l.secret, l.outcome.clone());
        for (k, v) in &l.details {
            r.details.insert((*k).to_owned(), v.clone());
        }
    }
}

async fn notify_resumed(deps: &Deps, dry_run: bool, looks: &[Look]) {
    if dry_run {
        return;
    }
    for l in looks.iter().filter(|l| l.finding == Some(Finding::Resumed)) {
        deps.notifiers.send(&messages::resumed(&l.secret)).await;
    }
}

/// One managed secret: finish its unfinished rotation if its database is up; with `judge`,
/// judge it against its rule too.
async fn look(deps: &Deps, secret: &str, dry_run: bool, now: DateTime<Utc>, judge: bool) -> Look {
    let mut look = Look {
        secret: secret.to_owned(),
        outcome: Outcome::Unchanged,
        finding: None,
        details: Vec::new(),
    };
    let meta = match deps.store.describe(secret).await {
        Ok(m) => m,
        Err(e) => {
            let error = caretaker_shared::error::chain(&e);
            look.outcome = Outcome::failed(error.clone());
            look.finding = Some(Finding::Unreadable { error });
            return look;
        }
    };
    if let Some(token) = domain::unfinished_rotation(&meta.versions).map(str::to_owned) {
        let (outcome, finding) = finish(deps, secret, &token, dry_run, now).await;
        look.outcome = outcome;
        look.finding = finding;
        look.details.push(("pendingVersion", token.into()));
        if look.finding.is_some() {
            return look;
        }
    }
    if !judge {
        return look;
    }
    let since = match domain::current_version(&meta.versions) {
        Some(v) => match deps.store.version_created(secret, v).await {
            Ok(created) => created.or(meta.last_rotated),
            Err(e) => {
                let error = caretaker_shared::error::chain(&e);
                look.outcome = Outcome::failed(error.clone());
                look.finding = Some(Finding::Unreadable { error });
                return look;
            }
        },
        None => meta.last_rotated,
    };
    if let Some(since) = since {
        look.details
            .push(("currentSince", since.to_rfc3339().into()));
    }
    if let Some(every) = meta.every_days {
        look.details.push(("everyDays", every.into()));
    }
    match domain::standing(meta.rotation_enabled, meta.every_days, since, now) {
        Standing::OnTime => {}
        Standing::Overdue {
            age_days,
            every_days,
        } => {
            look.outcome = Outcome::failed(format!(
                "overdue: its credentials are {age_days} days old, its rule rotates every {every_days} days"
            ));
            look.finding = Some(Finding::Overdue {
                age_days,
                every_days,
            });
        }
        Standing::RotationOff => {
            look.outcome = Outcome::skipped("rotation is not enabled on this secret");
            look.finding = Some(Finding::RotationOff);
        }
    }
    look
}

/// Finish rotation `token` of `secret`: wait while its database is down, else run the four
/// steps with the same token (each does nothing it has already done).
async fn finish(
    deps: &Deps,
    secret: &str,
    token: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) -> (Outcome, Option<Finding>) {
    // A rotation Secrets Manager is running now is left to it: only one it gave up on (begun
    // more than STALLED_AFTER ago; a whole rotation takes seconds) is finished here.
    match deps.store.version_created(secret, token).await {
        Ok(Some(begun)) if !domain::stalled(begun, now) => {
            return (
                Outcome::skipped(format!(
                    "rotation {token} began at {}: in progress, left to Secrets Manager",
                    begun.format("%H:%M UTC")
                )),
                None,
            );
        }
        Ok(_) => {}
        Err(e) => {
            let error = caretaker_shared::error::chain(&e);
            return (
                Outcome::failed(error.clone()),
                Some(Finding::ResumeFailed { error }),
            );
        }
    }
    let current = match load(deps, secret, CURRENT, None).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let error = format!("{secret} has no AWSCURRENT version");
            return (
                Outcome::failed(error.clone()),
                Some(Finding::ResumeFailed { error }),
            );
        }
        Err(e) => {
            let error = caretaker_shared::error::chain(&e);
            return (
                Outcome::failed(error.clone()),
                Some(Finding::ResumeFailed { error }),
            );
        }
    };
    match awake(deps, secret, &current).await {
        Ok(()) => {}
        Err(RotatorError::DatabaseAsleep {
            database, status, ..
        }) => {
            return (
                Outcome::skipped(format!(
                    "rotation {token} waits for {database} ({status}); it is finished once the database is available"
                )),
                Some(Finding::Waiting {
                    database: database.to_string(),
                    status,
                }),
            );
        }
        Err(e) => {
            let error = caretaker_shared::error::chain(&e);
            return (
                Outcome::failed(error.clone()),
                Some(Finding::ResumeFailed { error }),
            );
        }
    }
    if dry_run {
        return (
            Outcome::changed(format!("would finish rotation {token}")),
            None,
        );
    }
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        let ev = RotationEvent {
            step: step.as_str().to_owned(),
            secret_id: secret.to_owned(),
            client_request_token: token.to_owned(),
            rotation_token: None,
        };
        if let Err(e) = run_step(deps, &ev).await {
            let error = format!(
                "finishing rotation {token}: {} failed: {}",
                step.as_str(),
                caretaker_shared::error::chain(&e)
            );
            return (
                Outcome::failed(error.clone()),
                Some(Finding::ResumeFailed { error }),
            );
        }
    }
    (
        Outcome::changed(format!(
            "finished rotation {token}, which had stopped before its end"
        )),
        Some(Finding::Resumed),
    )
}
