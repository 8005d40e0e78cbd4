//! Orchestration: event → command → read budgets → pure decisions (`domain`) → AWS calls
//! (`aws`) → one readable message (`messages`) → report.
//!
//! Safe to run twice: reconcile compares desired and actual budgets and calls nothing when they
//! match; every alert and every shutdown request is claimed once per budget, threshold and
//! period in DynamoDB before it is sent (and given back only when no sink took it), so reruns
//! and retries never repeat one.

use aws_sdk_costexplorer::types::{GroupDefinition, GroupDefinitionType};
use caretaker_shared::error::{BadInput, chain};
use caretaker_shared::notify::Delivery;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::{self, Invocation};
use caretaker_shared::{Guard, Tags, guard::is_prod};
use chrono::{DateTime, Datelike, Utc};
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::{info, warn};

use crate::aws::{self, describe_budgets};
use crate::domain::{self, Change, DesiredBudget, ExistingBudget, Threshold, claim_key, money};
use crate::error::GuardError;
use crate::event::{self, Command};
use crate::messages::{self, DigestAccount};
use crate::{Deps, FUNCTION};

pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<RunReport, GuardError> {
    let invocation = Invocation::new(
        FUNCTION,
        &event.context,
        telemetry::event_id(&event.payload),
    );
    invocation
        .run(async {
            let cmd = event::parse(event.payload)?;
            run(deps, cmd, Utc::now()).await
        })
        .await
}

pub async fn run(deps: &Deps, cmd: Command, now: DateTime<Utc>) -> Result<RunReport, GuardError> {
    let global_dry = deps.config.common.dry_run;
    Ok(match cmd {
        Command::Reconcile { dry_run } => reconcile(deps, dry_run || global_dry).await,
        Command::Check { dry_run } => check(deps, now, dry_run || global_dry).await,
        Command::Digest { dry_run } => digest(deps, now, dry_run || global_dry, false).await,
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
        Command::Messages(msgs) => messages(deps, msgs).await?,
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

fn sent(delivery: &Delivery) -> Outcome {
    match delivery.error() {
        None => Outcome::changed("alert sent"),
        Some(e) => Outcome::failed(e),
    }
}

fn accounts(deps: &Deps) -> Vec<String> {
    let mut v: Vec<String> = deps
        .config
        .budgets
        .iter()
        .map(|b| b.account.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

async fn budgets_client(deps: &Deps, account: &str) -> Result<aws_sdk_budgets::Client, String> {
    let guard = Guard::new(&deps.config.common, Some(deps.accounts.home_account()));
    guard.check_account(account).map_err(|r| r.0)?;
    let cfg = deps
        .accounts
        .config_for(account)
        .await
        .map_err(|e| chain(&e))?;
    Ok(aws_sdk_budgets::Client::new(&cfg))
}

/// The account's budgets as AWS has them, through its role.
async fn read_budgets(
    deps: &Deps,
    account: &str,
) -> Result<(aws_sdk_budgets::Client, Vec<ExistingBudget>), String> {
    let client = budgets_client(deps, account).await?;
    let existing = describe_budgets(&client, account)
        .await
        .map_err(|e| e.to_string())?;
    Ok((client, existing))
}

/// Create what is missing, update what differs, report (never touch) budgets it does not manage.
pub async fn reconcile(deps: &Deps, dry_run: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "reconcile", dry_run);
    let topic = deps.config.notice_topic.as_deref();
    for account in accounts(deps) {
        let (client, existing) = match read_budgets(deps, &account).await {
            Ok(r) => r,
            Err(e) => {
                report.record("account", &account, Outcome::failed(e));
                continue;
            }
        };
        let desired: Vec<_> = deps
            .config
            .budgets
            .iter()
            .filter(|b| b.account == account)
            .cloned()
            .collect();
        for change in domain::plan(&desired, &existing) {
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
                        match aws::create_budget(&client, &d, topic).await {
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
                        match aws::update_budget(&client, &desired).await {
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
                outcome = with_alerts(&client, &account, &id, topic, dry_run, outcome).await;
            }
            report.record("budget", &id, outcome).in_account(&account);
        }
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

/// Threshold alerts, once per budget, threshold and period; and the dev overspend action.
pub async fn check(deps: &Deps, now: DateTime<Utc>, dry_run: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "check", dry_run);
    let period = domain::period(now.date_naive());
    for account in accounts(deps) {
        let existing = match read_budgets(deps, &account).await {
            Ok((_, e)) => e,
            Err(e) => {
                report.record("account", &account, Outcome::failed(e));
                continue;
            }
        };
        for d in deps.config.budgets.iter().filter(|b| b.account == account) {
            let Some(b) = existing.iter().find(|e| e.name == d.name) else {
                report
                    .record(
                        "budget",
                        &d.name,
                        Outcome::skipped("not in AWS yet: run reconcile"),
                    )
                    .in_account(&account);
                continue;
            };
            let crossed = domain::crossed(b.actual, b.forecast, b.limit);
            let key = |t: &Threshold| claim_key(&account, &d.name, &period, &t.key());
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
                            .in_account(&account);
                    }
                }
            }
            if fresh.is_empty() {
                report
                    .record("budget", &d.name, Outcome::Unchanged)
                    .in_account(&account)
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
                    .in_account(&account)
                    .detail("period", &period);
            }
            if let Some(at) = d.shutdown_at
                && crossed.contains(&at)
            {
                let res = shutdown(deps, d, b, at, &period, now, dry_run).await;
                report
                    .record("dev-shutdown", &format!("{account}/{}", d.env), res)
                    .in_account(&account);
            }
        }
    }
    report.finish()
}

async fn shutdown(
    deps: &Deps,
    d: &DesiredBudget,
    b: &ExistingBudget,
    at: Threshold,
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
    let reason = messages::shutdown_reason(d, b, at);
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

/// The daily digest: every budget across accounts, and this month's top cost drivers. The
/// scheduled run sends it once a day (`once_a_day`); asked for by hand, it is always sent.
pub async fn digest(deps: &Deps, now: DateTime<Utc>, dry_run: bool, once_a_day: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "digest", dry_run);
    let today = now.date_naive();
    let day_key = domain::digest_key(today);
    if once_a_day && !dry_run {
        let claimed = deps.ledger.claim(&day_key, "digest", now).await;
        let outcome = match claimed {
            Ok(true) => None,
            Ok(false) => Some(Outcome::Unchanged),
            Err(e) => Some(Outcome::failed(e.to_string())),
        };
        if let Some(o) = outcome {
            report.record("digest", &today.to_string(), o);
            return report.finish();
        }
    }
    // Accounts are read eight at a time (role assumption + DescribeBudgets), in a stable order.
    let reads: Vec<(String, Result<Vec<ExistingBudget>, String>)> =
        futures::stream::iter(accounts(deps))
            .map(|account| async move {
                let got = read_budgets(deps, &account).await.map(|(_, b)| b);
                (account, got)
            })
            .buffered(8)
            .collect()
            .await;
    let mut parts = Vec::with_capacity(reads.len());
    for (account, got) in &reads {
        match got {
            Ok(budgets) => {
                for b in budgets {
                    report
                        .record("budget", &b.name, Outcome::Unchanged)
                        .in_account(account)
                        .detail(
                            "percentOfLimit",
                            domain::percent(b.actual, b.limit).to_string(),
                        );
                }
                parts.push(DigestAccount::Read(account, budgets));
            }
            Err(e) => {
                report.record("account", account, Outcome::failed(e.clone()));
                parts.push(DigestAccount::Unreadable(account, e));
            }
        }
    }
    let start = format!("{:04}-{:02}-01", today.year(), today.month());
    let end = (today + chrono::Duration::days(1)).to_string();
    let mut costs = Vec::new();
    for (label, kind, key) in [
        ("Top services", GroupDefinitionType::Dimension, "SERVICE"),
        ("By env", GroupDefinitionType::Tag, "env"),
        ("By cost_center", GroupDefinitionType::Tag, "cost_center"),
    ] {
        let group = GroupDefinition::builder().r#type(kind).key(key).build();
        let got = aws::top_costs(&deps.ce, &start, &end, group).await;
        costs.push((label, got.map_err(|e| e.to_string())));
    }
    let note = messages::digest(today, &parts, &costs);
    if dry_run {
        report.record(
            "digest",
            &today.to_string(),
            Outcome::changed("send digest"),
        );
    } else {
        let delivery = deps.notifiers.send(&note).await;
        if once_a_day && delivery.nobody_got_it() {
            let _ = deps.ledger.release(&day_key).await;
        }
        report.record("digest", &today.to_string(), sent(&delivery));
    }
    report.finish()
}

async fn messages(
    deps: &Deps,
    msgs: Vec<(Option<String>, String)>,
) -> Result<RunReport, GuardError> {
    // Decide every message first: one that is unrecognisable fails the whole batch, nothing sent.
    let mut notes = Vec::new();
    for (subject, text) in &msgs {
        if let Ok(json) = serde_json::from_str::<Value>(text) {
            let a = domain::parse_anomaly(&json).map_err(BadInput)?;
            let id = a.anomaly_id.clone().unwrap_or_default();
            notes.push(("anomaly", id, messages::anomaly(&a)));
            continue;
        }
        let looks_like_budgets = subject
            .as_deref()
            .is_some_and(|s| s.starts_with("AWS Budgets"))
            || text.contains("AWS Budget Notification");
        match domain::parse_budgets_notice(text) {
            Ok(notice) => notes.push((
                "budgets-notice",
                notice.budget_name.clone().unwrap_or_default(),
                messages::notice(&notice),
            )),
            // Tolerant: a wording we do not know still reaches people, as it came.
            Err(_) if looks_like_budgets => notes.push((
                "budgets-notice",
                "unparsed".into(),
                messages::unparsed_notice(subject.as_deref(), text),
            )),
            Err(e) => return Err(BadInput(format!("unrecognised SNS message: {e}")).into()),
        }
    }
    let mut report = RunReport::new(FUNCTION, "notice", false);
    for (kind, id, n) in notes {
        let delivery = deps.notifiers.send(&n).await;
        report.record(kind, &id, sent(&delivery));
    }
    Ok(report.finish())
}
