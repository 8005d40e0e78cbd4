//! The fan-out (template `FanOut: step-functions`): a state machine runs `accounts`, then one
//! invocation per account (`reconcile` with `account` and `fanOut`), then `summarize`, which
//! makes the accounts' compact reports one report and sends one notification for all of them.

use caretaker_shared::report::{Outcome, RunReport};
use chrono::Utc;

use crate::event::Request;
use crate::{Deps, FUNCTION, messages};

/// The accounts this run would act in, one entry each (`id`: the account; `from`: listed or an
/// OU), for the state machine's Map.
pub(crate) async fn accounts(deps: &Deps, req: &Request) -> RunReport {
    let now = req.at.unwrap_or_else(Utc::now);
    let mut report = RunReport::new(FUNCTION, "accounts", true);
    for (account, from_ou) in super::account::accounts_for(deps, now, &mut report).await {
        report
            .record("account", &account, Outcome::Unchanged)
            .detail("from", if from_ou { "ou" } else { "listed" });
    }
    report.finish()
}

/// The accounts' reports as one (bounded), and one notification for the failures in them. An
/// account whose invocation failed outright (the Map's Catch) is a failed `account` entry.
pub(crate) async fn summarize(deps: &Deps, req: &Request) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "reconcile", req.dry_run);
    for v in &req.reports {
        match serde_json::from_value::<RunReport>(v.clone()) {
            Ok(r) => {
                report.dry_run |= r.dry_run;
                // A compact report counts in its totals what it no longer lists: its totals
                // are taken as they are, its entries listed without counting them again.
                let t = &r.totals;
                report.totals.changed += t.changed;
                report.totals.unchanged += t.unchanged;
                report.totals.skipped += t.skipped;
                report.totals.failed += t.failed;
                report.resources.extend(r.resources);
            }
            Err(_) => {
                let account = v["account"].as_str().unwrap_or("-");
                let cause = v["error"]["Cause"]
                    .as_str()
                    .or(v["error"]["Error"].as_str())
                    .unwrap_or("the account's invocation returned no report");
                report.record(
                    "account",
                    account,
                    Outcome::failed(caretaker_shared::error::cap(cause, 500)),
                );
            }
        }
    }
    crate::report_size::bound(&mut report);
    let report = report.finish();
    if let Some(n) = messages::notification(&report, None, &[]) {
        deps.notifiers.send(&n).await;
    }
    report
}
