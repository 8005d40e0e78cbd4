//! Budgets as code: create what is missing, update what differs, put back missing alerts,
//! report (never touch) budgets budget-guard does not manage. Every budget is made in the
//! management account, filtered by the account it watches, and notifies the notice topic of that
//! same account: AWS Budgets publishes only to a topic of the budget's own account
//! (https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html).

use caretaker_shared::report::{Outcome, RunReport};

use super::{read_budgets, watched};
use crate::domain::{self, Change, money};
use crate::{Deps, FUNCTION, aws, messages};

/// Create what is missing, update what differs, report (never touch) budgets it does not manage.
pub async fn reconcile(deps: &Deps, dry_run: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "reconcile", dry_run);
    let topic = deps.config.notice_topic.as_deref();
    let home = deps.accounts.home_account();
    let client = &deps.budgets;
    let existing = match read_budgets(deps).await {
        Ok(r) => r,
        Err(e) => {
            report.record("account", home, Outcome::failed(e));
            return report.finish();
        }
    };
    let desired = &deps.config.budgets;
    for change in domain::plan(desired, &existing) {
        let account = match &change {
            Change::Create(d) | Change::Update { desired: d, .. } => d.account.clone(),
            Change::Unchanged(name) => desired
                .iter()
                .find(|d| &d.name == name)
                .map_or_else(|| home.to_owned(), |d| d.account.clone()),
            Change::Unmanaged(name) => existing
                .iter()
                .find(|e| &e.name == name)
                .map_or(home, |e| watched(deps, e))
                .to_owned(),
        };
        let (id, managed, mut outcome) = match change {
            Change::Unchanged(name) => (name, true, Outcome::Unchanged),
            Change::Unmanaged(name) => (
                name,
                false,
                Outcome::skipped("not managed by Caretaker: left as it is"),
            ),
            Change::Create(d) => {
                let limit = money(d.limit);
                let outcome = if dry_run {
                    Outcome::changed(format!("create ({limit} a month)"))
                } else {
                    match aws::create_budget(client, home, &d, topic).await {
                        Ok(()) => Outcome::changed(format!("created ({limit} a month)")),
                        Err(e) => Outcome::failed(e.to_string()),
                    }
                };
                (d.name, false, outcome)
            }
            Change::Update { desired, what } => {
                let what = what.join("; ");
                let outcome = if dry_run {
                    Outcome::changed(format!("update: {what}"))
                } else {
                    match aws::update_budget(client, home, &desired).await {
                        Ok(()) => Outcome::changed(format!("updated: {what}")),
                        Err(e) => Outcome::failed(e.to_string()),
                    }
                };
                (desired.name, true, outcome)
            }
        };
        if let (true, Some(topic)) = (managed, topic)
            && !matches!(outcome, Outcome::Failed { .. })
        {
            outcome = with_alerts(client, home, &id, topic, dry_run, outcome).await;
        }
        report.record("budget", &id, outcome).in_account(&account);
    }
    report.finish()
}

/// Adds the alerts a managed budget lacks (deleted by hand, or created before budget-guard
/// managed it); alerts it has beyond those are someone's and stay.
async fn with_alerts(
    client: &aws_sdk_budgets::Client,
    account: &str,
    name: &str,
    topic: &str,
    dry_run: bool,
    outcome: Outcome,
) -> Outcome {
    let and = |what: String| match &outcome {
        Outcome::Changed { action } => Outcome::changed(format!("{action}; {what}")),
        _ => Outcome::changed(what),
    };
    let have = match aws::alerts(client, account, name).await {
        Ok(h) => h,
        Err(e) => return Outcome::failed(format!("reading its alerts: {e}")),
    };
    let missing = domain::missing_alerts(&have);
    if missing.is_empty() {
        return outcome;
    }
    let labels = messages::labels(&missing);
    if dry_run {
        return and(format!("add alerts {labels}"));
    }
    for t in &missing {
        if let Err(e) = aws::add_alert(client, account, name, t, topic).await {
            return Outcome::failed(format!("adding the {} alert: {e}", t.label()));
        }
    }
    and(format!("added alerts {labels}"))
}
