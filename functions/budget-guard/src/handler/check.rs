//! The daily threshold check: one alert per budget, threshold and period (claimed in the ledger
//! first), and the dev shutdown request when a dev budget passes its `shutdownAt`.

use caretaker_shared::guard::is_prod;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::{Guard, Tags};
use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::read_budgets;
use crate::domain::{self, DesiredBudget, Threshold, claim_key};
use crate::{Deps, FUNCTION, aws, messages};

/// Threshold alerts, once per budget, threshold and period; and the dev overspend action.
pub async fn check(deps: &Deps, now: DateTime<Utc>, dry_run: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "check", dry_run);
    let period = domain::period(now.date_naive());
    let existing = match read_budgets(deps).await {
        Ok(e) => e,
        Err(e) => {
            report.record("account", deps.accounts.home_account(), Outcome::failed(e));
            return report.finish();
        }
    };
    for d in &deps.config.budgets {
        let account = &d.account;
        let Some(b) = existing.iter().find(|e| e.name == d.name) else {
            report
                .record(
                    "budget",
                    &d.name,
                    Outcome::skipped("not in AWS yet: run reconcile"),
                )
                .in_account(account);
            continue;
        };
        let crossed = domain::crossed(b.actual, b.forecast, b.limit);
        let key = |t: &Threshold| claim_key(account, &d.name, &period, &t.key());
        let mut fresh: Vec<Threshold> = Vec::new();
        for t in &crossed {
            if dry_run {
                fresh.push(*t);
                continue;
            }
            match deps.ledger.claim(&key(t), "alert", now).await {
                Ok(true) => fresh.push(*t),
                Ok(false) => {}
                Err(e) => {
                    report
                        .record("budget", &d.name, Outcome::failed(e.to_string()))
                        .in_account(account);
                }
            }
        }
        if fresh.is_empty() {
            report
                .record("budget", &d.name, Outcome::Unchanged)
                .in_account(account)
                .detail(
                    "percentOfLimit",
                    domain::percent(b.actual, b.limit).to_string(),
                );
        } else {
            let outcome = if dry_run {
                let last = fresh.last().map(Threshold::label).unwrap_or_default();
                Outcome::changed(format!("alert {last}"))
            } else {
                let note = messages::threshold(d, b, &fresh, now.date_naive());
                let delivery = deps.notifiers.send(&note).await;
                if delivery.nobody_got_it() {
                    // Nothing was delivered: give the claims back so the next run retries.
                    for t in &fresh {
                        let _ = deps.ledger.release(&key(t)).await;
                    }
                }
                match delivery.error() {
                    Some(e) if delivery.nobody_got_it() => Outcome::failed(e),
                    _ => Outcome::changed(format!("alert sent: {}", messages::labels(&fresh))),
                }
            };
            report
                .record("budget", &d.name, outcome)
                .in_account(account)
                .detail("period", &period);
        }
        if let Some(at) = d.shutdown_at
            && crossed.contains(&at)
        {
            let reason = messages::shutdown_reason(d, b, at);
            let res = shutdown(deps, d, reason, &period, now, dry_run).await;
            report
                .record("dev-shutdown", &format!("{account}/{}", d.env), res)
                .in_account(account);
        }
    }
    report.finish()
}

/// Asks dev-scheduler to shut `d`'s account down, once per budget period (the daily check and a
/// Budgets notice share the claim): never for prod, and only where the guard allows.
pub(super) async fn shutdown(
    deps: &Deps,
    d: &DesiredBudget,
    reason: String,
    period: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Outcome {
    // Never for prod, whatever the configuration says (ALLOW_PROD included); then the guard.
    if is_prod(&d.env) {
        warn!(account = %d.account, env = %d.env, "dev shutdown refused: production");
        return Outcome::skipped(format!(
            "shutdown refused: env={} is production, which is never shut down",
            d.env
        ));
    }
    let guard = Guard::new(&deps.config.common, Some(deps.accounts.home_account()));
    let tags = Tags::from([("env".to_owned(), d.env.clone())]);
    if let Err(refusal) = guard.check(&d.account, &tags) {
        warn!(account = %d.account, env = %d.env, reason = %refusal, "dev shutdown refused");
        return Outcome::skipped(format!("shutdown refused: {refusal}"));
    }
    if dry_run {
        return Outcome::changed(format!("request shutdown: {reason}"));
    }
    let key = claim_key(&d.account, &d.name, period, "shutdown");
    match deps.ledger.claim(&key, "shutdown", now).await {
        Ok(false) => return Outcome::skipped("shutdown already requested this period"),
        Err(e) => return Outcome::failed(e.to_string()),
        Ok(true) => {}
    }
    let bus = &deps.config.event_bus;
    if let Err(e) = aws::request_shutdown(&deps.events, bus, &d.account, &reason).await {
        let _ = deps.ledger.release(&key).await;
        return Outcome::failed(e.to_string());
    }
    info!(account = %d.account, %reason, "dev shutdown requested");
    deps.notifiers.send(&messages::shutdown(d, &reason)).await;
    Outcome::changed(format!("shutdown requested: {reason}"))
}
