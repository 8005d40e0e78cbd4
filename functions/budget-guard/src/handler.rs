//! Orchestration: event → command → read budgets → pure decisions (`domain`) → AWS calls
//! (`aws`) → one readable message (`messages`) → report.
//!
//! Safe to run twice: reconcile compares desired and actual budgets and calls nothing when they
//! match; every alert and every shutdown request is claimed once per budget, threshold and
//! period in DynamoDB before it is sent (and given back only when no sink took it), so reruns
//! and retries never repeat one.

use caretaker_shared::error::BadInput;
use caretaker_shared::incoming::Incoming;
use caretaker_shared::notify::Delivery;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::Invocation;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;

use crate::aws::describe_budgets;
use crate::domain::{self, ExistingBudget};
use crate::error::GuardError;
use crate::event::{self, Command};
use crate::{Deps, FUNCTION, messages};

mod check;
mod digest;
mod notices;
mod reconcile;

pub use check::check;
pub use digest::digest;
pub use reconcile::reconcile;

pub async fn handle(event: LambdaEvent<Incoming>, deps: &Deps) -> Result<RunReport, GuardError> {
    Invocation::for_event(FUNCTION, &event)
        .run(async {
            let cmd = event::parse(event.payload.into_value()?)?;
            run(deps, cmd, Utc::now()).await
        })
        .await
}

pub async fn run(deps: &Deps, cmd: Command, now: DateTime<Utc>) -> Result<RunReport, GuardError> {
    let global_dry = deps.config.common.dry_run;
    Ok(match cmd {
        Command::Reconcile { dry_run } => reconcile(deps, dry_run || global_dry).await,
        Command::Check { dry_run } => check(deps, now, dry_run || global_dry).await,
        Command::Digest { dry_run, at } => {
            digest(deps, at.unwrap_or(now), dry_run || global_dry, false).await
        }
        Command::Daily => {
            let mut r = check(deps, now, global_dry).await;
            let d = digest(deps, now, global_dry, true).await;
            r.action = "daily".into();
            for res in d.resources {
                r.push(res);
            }
            r.summary.clear();
            r.finish()
        }
        Command::Messages(msgs) => notices::messages(deps, msgs, now).await?,
        Command::Anomaly(detail) => {
            let a = domain::parse_anomaly(&detail).map_err(BadInput)?;
            let mut r = RunReport::new(FUNCTION, "anomaly", false);
            let delivery = deps.notifiers.send(&messages::anomaly(&a)).await;
            r.record(
                "anomaly",
                a.anomaly_id.as_deref().unwrap_or("-"),
                sent(&delivery),
            );
            r.finish()
        }
    })
}

pub(crate) fn sent(delivery: &Delivery) -> Outcome {
    match delivery.error() {
        None => Outcome::changed("alert sent"),
        Some(e) => Outcome::failed(e),
    }
}

/// Every budget of the management account, where AWS Organizations keeps the budgets of all its
/// accounts (https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-managing-costs.html):
/// one read, no role in any member account.
pub(crate) async fn read_budgets(deps: &Deps) -> Result<Vec<ExistingBudget>, String> {
    describe_budgets(&deps.budgets, deps.accounts.home_account())
        .await
        .map_err(|e| e.to_string())
}

/// The member account a budget of the management account watches (its `LinkedAccount` filter;
/// without one, the management account's own).
pub(crate) fn watched<'a>(deps: &'a Deps, b: &'a ExistingBudget) -> &'a str {
    match b.linked_accounts.as_slice() {
        [one] => one,
        _ => deps.accounts.home_account(),
    }
}
