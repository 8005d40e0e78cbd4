//! Orchestration: event → command → decision (`domain`, `policy`) → retag (`aws`) → report and
//! notification (`messages`).
//!
//! Safe to run twice: promotion is keyed by digest. A production tag already on the image is
//! success ("unchanged"); one on another digest is never moved. Everything that is not a
//! complete, readable scan passing a readable policy ends without a promotion; a read that
//! fails is a failure to decide (retried by the sweep), never a verdict on the image.

use caretaker_shared::incoming::Incoming;
use caretaker_shared::notify::Notification;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::Invocation;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;

use crate::aws;
use crate::error::PromoterError;
use crate::event::{self, Command};
use crate::policy::Policy;
use crate::{Deps, FUNCTION};

mod evaluate;
mod push;
mod sweep;

const KIND: &str = "ecr-image";

pub async fn handle(event: LambdaEvent<Incoming>, deps: &Deps) -> Result<RunReport, PromoterError> {
    Invocation::for_event(FUNCTION, &event)
        .run(async {
            let cmd = event::parse(event.payload.into_value()?)?;
            // ECR's and Inspector's events are delivered again when the function fails.
            let retried = matches!(&cmd, Command::Evaluate { trigger, .. } if trigger.ends_with("scan"))
                || matches!(cmd, Command::Pushed { .. });
            let report = run(deps, cmd, Utc::now()).await;
            match report
                .resources
                .iter()
                .find(|r| r.details.get("retryable") == Some(&serde_json::Value::Bool(true)))
            {
                Some(r) if retried => {
                    let why = match &r.outcome {
                        Outcome::Failed { error } => error.as_str(),
                        _ => "",
                    };
                    Err(PromoterError::Undecided(format!("{}: {why}", r.id)))
                }
                _ => Ok(report),
            }
        })
        .await
}

/// Where the policy comes from: SSM parameter, file, or the bundled default.
pub async fn load_policy(deps: &Deps) -> Result<Policy, String> {
    if let Some(name) = &deps.config.policy_parameter {
        let text = aws::policy_parameter(&deps.ssm, name).await?;
        return Policy::parse(&text).map_err(|e| format!("{e} (parameter {name})"));
    }
    if let Some(path) = &deps.config.policy_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("policy file {path} unreadable: {e}"))?;
        return Policy::parse(&text).map_err(|e| format!("{e} (file {path})"));
    }
    Ok(Policy::bundled())
}

pub async fn run(deps: &Deps, cmd: Command, now: DateTime<Utc>) -> RunReport {
    let dry_run = deps.config.common.dry_run
        || matches!(
            cmd,
            Command::Evaluate { dry_run: true, .. }
                | Command::Pushed { dry_run: true, .. }
                | Command::Sweep { dry_run: true }
        );
    let action = match &cmd {
        Command::Evaluate { trigger, .. } => format!("evaluate ({trigger})"),
        Command::Pushed { .. } => "push".into(),
        Command::Sweep { .. } => "sweep".into(),
        Command::Ignore { .. } => "ignore".into(),
    };
    let mut report = RunReport::new(FUNCTION, &action, dry_run);
    let ctx = Ctx {
        deps,
        policy: load_policy(deps).await,
        dry_run,
        now,
    };
    match cmd {
        Command::Ignore { reason } => {
            report.record(KIND, "-", Outcome::skipped(reason));
        }
        Command::Evaluate {
            repository,
            image,
            tags,
            trigger,
            ..
        } => {
            ctx.evaluate(&mut report, &repository, &image, &tags, None, trigger)
                .await;
        }
        Command::Pushed {
            repository,
            digest,
            tag,
            ..
        } => {
            ctx.pushed(&mut report, &repository, &digest, tag.as_deref())
                .await;
        }
        Command::Sweep { .. } => ctx.sweep(&mut report).await,
    }
    report.finish()
}

/// One run's context: the dependencies, the policy as read (or why it could not be), dry run
/// and the clock.
struct Ctx<'a> {
    deps: &'a Deps,
    policy: Result<Policy, String>,
    dry_run: bool,
    now: DateTime<Utc>,
}

impl Ctx<'_> {
    fn in_scope(&self, repository: &str) -> bool {
        let repos = &self.deps.config.repositories;
        repos.is_empty() || repos.contains(repository)
    }

    async fn notify(&self, n: Notification) {
        if self.dry_run || self.deps.notifiers.is_empty() {
            return;
        }
        self.deps.notifiers.send(&n).await;
    }
}
