//! Event → command → pure decisions → AWS calls → one readable message → report.
//!
//! Safe to run twice: reconcile compares desired and actual budgets and calls nothing when they
//! match; every alert and every shutdown request is claimed once per budget, threshold and
//! period in DynamoDB before it is sent, so reruns and retries never repeat one.

use std::collections::BTreeMap;

use aws_sdk_costexplorer::types::{GroupDefinition, GroupDefinitionType};
use caretaker_shared::notify::{Notification, Severity};
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::{Guard, Tags, telemetry};
use chrono::{DateTime, Datelike, Utc};
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::Deps;
use crate::adapters::{self, describe_budgets};
use crate::domain::{self, Change, ExistingBudget, Threshold, money, percent};
use crate::error::GuardError;

const FUNCTION: &str = "budget-guard";

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Reconcile {
        dry_run: bool,
    },
    Check {
        dry_run: bool,
    },
    Digest {
        dry_run: bool,
    },
    /// The daily schedule: check thresholds, then send the digest.
    Daily,
    /// Messages from SNS (AWS Budgets text, Cost Anomaly JSON).
    Messages(Vec<(Option<String>, String)>),
    Anomaly(Value),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manual {
    action: String,
    #[serde(default)]
    dry_run: bool,
}

pub fn parse(v: Value) -> Result<Command, GuardError> {
    if let Some(records) = v.get("Records").and_then(|r| r.as_array()) {
        let mut msgs = Vec::new();
        for r in records {
            let sns = r
                .get("Sns")
                .ok_or_else(|| GuardError::BadInput("SNS record without \"Sns\"".into()))?;
            let message = sns
                .get("Message")
                .and_then(|m| m.as_str())
                .ok_or_else(|| GuardError::BadInput("SNS record without Message".into()))?;
            msgs.push((
                sns.get("Subject")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned),
                message.to_owned(),
            ));
        }
        return Ok(Command::Messages(msgs));
    }
    if let Some(dt) = v.get("detail-type").and_then(|d| d.as_str()) {
        return match (v.get("source").and_then(|s| s.as_str()), dt) {
            (Some("aws.ce"), "Anomaly Detected") => Ok(Command::Anomaly(v["detail"].clone())),
            (_, "Scheduled Event") => Ok(Command::Daily),
            (src, other) => Err(GuardError::BadInput(format!(
                "unsupported event {other:?} from {src:?}"
            ))),
        };
    }
    let m: Manual = serde_json::from_value(v).map_err(|e| {
        GuardError::BadInput(format!(
            "{e}; expected {{\"action\": \"digest\" | \"check\" | \"daily\" | \"reconcile\", \"dryRun\"?}}"
        ))
    })?;
    match m.action.as_str() {
        "reconcile" => Ok(Command::Reconcile { dry_run: m.dry_run }),
        "check" => Ok(Command::Check { dry_run: m.dry_run }),
        "digest" => Ok(Command::Digest { dry_run: m.dry_run }),
        "daily" => Ok(Command::Daily),
        other => Err(GuardError::BadInput(format!(
            "unknown action {other:?}: expected digest, check, daily or reconcile"
        ))),
    }
}

pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<RunReport, GuardError> {
    let correlation = telemetry::event_id(&event.payload);
    telemetry::report_invocation(FUNCTION, correlation.as_deref(), async {
        let cmd = parse(event.payload)?;
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
            r.finish()
        }
        Command::Messages(msgs) => messages(deps, msgs).await?,
        Command::Anomaly(detail) => {
            let a = domain::parse_anomaly(&detail).map_err(GuardError::BadInput)?;
            let mut r = RunReport::new(FUNCTION, "anomaly", false);
            let n = anomaly_note(&a);
            let failures = deps.notifiers.send(&n).await;
            r.record(
                "anomaly",
                a.anomaly_id.as_deref().unwrap_or("-"),
                sent(&failures),
            );
            r.finish()
        }
    })
}

fn sent(failures: &[String]) -> Outcome {
    if failures.is_empty() {
        Outcome::changed("alert sent")
    } else {
        Outcome::failed(failures.join("; "))
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
        .map_err(|e| caretaker_shared::error::chain(&e))?;
    Ok(aws_sdk_budgets::Client::new(&cfg))
}

/// Create what is missing, update what differs, report (never touch) budgets it does not manage.
pub async fn reconcile(deps: &Deps, dry_run: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "reconcile", dry_run);
    for account in accounts(deps) {
        let client = match budgets_client(deps, &account).await {
            Ok(c) => c,
            Err(e) => {
                report.record("account", &account, Outcome::failed(e));
                continue;
            }
        };
        let existing = match describe_budgets(&client, &account).await {
            Ok(e) => e,
            Err(e) => {
                report.record("account", &account, Outcome::failed(e.to_string()));
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
            let managed = match &change {
                Change::Unchanged(name) => Some(name.clone()),
                Change::Update { desired, .. } => Some(desired.name.clone()),
                Change::Create(_) | Change::Unmanaged(_) => None,
            };
            let (id, mut outcome) = match change {
                Change::Unchanged(name) => (name, Outcome::Unchanged),
                Change::Unmanaged(name) => (
                    name,
                    Outcome::skipped("not managed by Caretaker: left as it is"),
                ),
                Change::Create(d) if dry_run => (
                    d.name.clone(),
                    Outcome::changed(format!("create ({} a month)", money(d.limit))),
                ),
                Change::Create(d) => {
                    match adapters::create_budget(&client, &d, deps.config.notice_topic.as_deref())
                        .await
                    {
                        Ok(()) => (
                            d.name.clone(),
                            Outcome::changed(format!("created ({} a month)", money(d.limit))),
                        ),
                        Err(e) => (d.name.clone(), Outcome::failed(e.to_string())),
                    }
                }
                Change::Update { desired, what } if dry_run => (
                    desired.name.clone(),
                    Outcome::changed(format!("update: {}", what.join("; "))),
                ),
                Change::Update { desired, what } => {
                    match adapters::update_budget(&client, &desired).await {
                        Ok(()) => (
                            desired.name.clone(),
                            Outcome::changed(format!("updated: {}", what.join("; "))),
                        ),
                        Err(e) => (desired.name.clone(), Outcome::failed(e.to_string())),
                    }
                }
            };
            if let (Some(name), Some(topic)) = (managed, deps.config.notice_topic.as_deref())
                && !matches!(outcome, Outcome::Failed { .. })
            {
                outcome = with_alerts(&client, &account, &name, topic, dry_run, outcome).await;
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
    let have = match adapters::alerts(client, account, name).await {
        Ok(h) => h,
        Err(e) => return Outcome::failed(format!("reading its alerts: {e}")),
    };
    let missing = domain::missing_alerts(&have);
    if missing.is_empty() {
        return outcome;
    }
    let labels: Vec<String> = missing.iter().map(domain::Threshold::label).collect();
    if dry_run {
        return and(format!("add alerts {}", labels.join(", ")));
    }
    for t in &missing {
        if let Err(e) = adapters::add_alert(client, account, name, t, topic).await {
            return Outcome::failed(format!("adding the {} alert: {e}", t.label()));
        }
    }
    and(format!("added alerts {}", labels.join(", ")))
}

/// Threshold alerts, once per budget, threshold and period; and the dev overspend action.
pub async fn check(deps: &Deps, now: DateTime<Utc>, dry_run: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "check", dry_run);
    let period = domain::period(now.date_naive());
    for account in accounts(deps) {
        let existing = match budgets_client(deps, &account).await {
            Ok(c) => describe_budgets(&c, &account)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let existing = match existing {
            Ok(e) => e,
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
            let mut fresh: Vec<Threshold> = Vec::new();
            for t in &crossed {
                let key = format!("{account}#{}#{period}#{}", d.name, t.key());
                if dry_run {
                    fresh.push(*t);
                    continue;
                }
                match deps.ledger.claim(&key, "alert", now).await {
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
                    .detail("percentOfLimit", percent(b.actual, b.limit).to_string());
            } else {
                let n = threshold_note(d, b, &fresh, now);
                let outcome = if dry_run {
                    Outcome::changed(format!(
                        "alert {}",
                        fresh.last().map(Threshold::label).unwrap_or_default()
                    ))
                } else {
                    let failures = deps.notifiers.send(&n).await;
                    if !failures.is_empty() && failures.len() >= deps_sinks(deps) {
                        // Nothing was delivered: give the claims back so the next run retries.
                        for t in &fresh {
                            let _ = deps
                                .ledger
                                .release(&format!("{account}#{}#{period}#{}", d.name, t.key()))
                                .await;
                        }
                        Outcome::failed(failures.join("; "))
                    } else {
                        Outcome::changed(format!(
                            "alert sent: {}",
                            fresh
                                .iter()
                                .map(Threshold::label)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
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

fn deps_sinks(deps: &Deps) -> usize {
    if deps.notifiers.is_empty() { 0 } else { 1 }
}

async fn shutdown(
    deps: &Deps,
    d: &domain::DesiredBudget,
    b: &ExistingBudget,
    at: Threshold,
    period: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Outcome {
    // Never for prod: the guard decides from the budget's env, whatever the configuration says.
    let guard = Guard::new(&deps.config.common, Some(deps.accounts.home_account()));
    let tags = Tags::from([("env".to_owned(), d.env.clone())]);
    if let Err(refusal) = guard.check(&d.account, &tags) {
        warn!(account = %d.account, env = %d.env, reason = %refusal, "dev shutdown refused");
        return Outcome::skipped(format!("shutdown refused: {refusal}"));
    }
    let reason = format!(
        "{} reached {} ({} of {})",
        d.name,
        at.label(),
        money(match at.basis {
            domain::Basis::Actual => b.actual,
            domain::Basis::Forecast => b.forecast.unwrap_or_default(),
        }),
        money(b.limit)
    );
    if dry_run {
        return Outcome::changed(format!("request shutdown: {reason}"));
    }
    let key = format!("{}#{}#{period}#shutdown", d.account, d.name);
    match deps.ledger.claim(&key, "shutdown", now).await {
        Ok(false) => return Outcome::skipped("shutdown already requested this period"),
        Err(e) => return Outcome::failed(e.to_string()),
        Ok(true) => {}
    }
    if let Err(e) =
        adapters::request_shutdown(&deps.events, &deps.config.event_bus, &d.account, &reason).await
    {
        let _ = deps.ledger.release(&key).await;
        return Outcome::failed(e.to_string());
    }
    info!(account = %d.account, %reason, "dev shutdown requested");
    let n = Notification::new(Severity::Critical, format!("Dev shutdown requested for {} ({})", d.env, d.account))
        .fact("Why", &reason)
        .fact("What happens", "dev-scheduler stops the dev workloads, node groups and databases now")
        .action("Nothing, if dev can wait: the normal morning startup brings it back. To keep it up, raise the budget or set caretaker/keep-up-until.");
    deps.notifiers.send(&n).await;
    Outcome::changed(format!("shutdown requested: {reason}"))
}

fn threshold_note(
    d: &domain::DesiredBudget,
    b: &ExistingBudget,
    fresh: &[Threshold],
    now: DateTime<Utc>,
) -> Notification {
    let top_actual = fresh
        .iter()
        .filter(|t| t.basis == domain::Basis::Actual)
        .map(|t| t.percent)
        .max()
        .unwrap_or(0);
    let forecast_over = fresh.iter().any(|t| t.basis == domain::Basis::Forecast);
    // How serious: a forecast over the limit weighs as 100 %.
    let level = top_actual.max(if forecast_over { 100 } else { 0 });
    let severity = if level >= 100 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let pct = percent(b.actual, b.limit);
    let title = if top_actual < 100 && forecast_over {
        format!(
            "{} forecast to exceed {} ({}, {})",
            d.name,
            money(b.limit),
            d.env,
            d.account
        )
    } else {
        format!(
            "{} at {pct}% of {} ({}, {})",
            d.name,
            money(b.limit),
            d.env,
            d.account
        )
    };
    let mut n = Notification::new(severity, title)
        .fact("Spent so far", format!("{} ({pct}%)", money(b.actual)))
        .fact(
            "Days left in the month",
            domain::days_left_in_month(now.date_naive()),
        );
    if let Some(f) = b.forecast {
        n = n.fact(
            "Forecast for the month",
            format!("{} ({}%)", money(f), percent(f, b.limit)),
        );
    }
    n = n.fact(
        "Thresholds crossed",
        fresh
            .iter()
            .map(Threshold::label)
            .collect::<Vec<_>>()
            .join(", "),
    );
    let action = if level >= 120 {
        "Escalation: find the runaway resource now (Cost Explorer, grouped by service and usage type) and stop it."
    } else if level >= 100 {
        "Check the top cost drivers in today's digest; stop what is idle, or raise the budget if the spend is expected."
    } else {
        "No action needed yet: watch the trend in the daily digest."
    };
    n.action(action)
}

/// The daily digest: every budget across accounts, and this month's top cost drivers. The
/// scheduled run sends it once a day (`once_a_day`); asked for by hand, it is always sent.
pub async fn digest(deps: &Deps, now: DateTime<Utc>, dry_run: bool, once_a_day: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "digest", dry_run);
    let today = now.date_naive();
    let day_key = format!("digest#{today}");
    if once_a_day && !dry_run {
        match deps.ledger.claim(&day_key, "digest", now).await {
            Ok(true) => {}
            Ok(false) => {
                report.record("digest", &today.to_string(), Outcome::Unchanged);
                return report.finish();
            }
            Err(e) => {
                report.record("digest", &today.to_string(), Outcome::failed(e.to_string()));
                return report.finish();
            }
        }
    }
    let mut n = Notification::new(
        Severity::Info,
        format!(
            "Cost digest {today}: {} days left in the month",
            domain::days_left_in_month(today)
        ),
    );
    let mut worst = Decimal::ZERO;
    // Accounts are read eight at a time (role assumption + DescribeBudgets), in a stable order.
    let reads: Vec<(String, Result<Vec<ExistingBudget>, String>)> =
        futures::stream::iter(accounts(deps))
            .map(|account| async move {
                let got = match budgets_client(deps, &account).await {
                    Ok(c) => describe_budgets(&c, &account)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                (account, got)
            })
            .buffered(8)
            .collect()
            .await;
    for (account, got) in reads {
        match got {
            Ok(budgets) => {
                for b in budgets {
                    let pct = percent(b.actual, b.limit);
                    worst = worst.max(b.forecast.map(|f| percent(f, b.limit)).unwrap_or(pct));
                    let trend = match b.forecast {
                        Some(f) if f > b.limit => {
                            format!("on track to exceed by {}", money(f - b.limit))
                        }
                        Some(f) => format!("forecast {} ({}%)", money(f), percent(f, b.limit)),
                        None => "no forecast yet".into(),
                    };
                    n = n.fact(
                        format!("{} ({account})", b.name),
                        format!(
                            "{} of {} ({pct}%), {trend}",
                            money(b.actual),
                            money(b.limit)
                        ),
                    );
                    report
                        .record("budget", &b.name, Outcome::Unchanged)
                        .in_account(&account)
                        .detail("percentOfLimit", pct.to_string());
                }
            }
            Err(e) => {
                n = n.fact(
                    format!("account {account}"),
                    format!("could not be read: {e}"),
                );
                report.record("account", &account, Outcome::failed(e));
            }
        }
    }
    let start = format!("{:04}-{:02}-01", today.year(), today.month());
    let end = (today + chrono::Duration::days(1)).to_string();
    for (label, group) in [
        (
            "Top services",
            GroupDefinition::builder()
                .r#type(GroupDefinitionType::Dimension)
                .key("SERVICE")
                .build(),
        ),
        (
            "By env",
            GroupDefinition::builder()
                .r#type(GroupDefinitionType::Tag)
                .key("env")
                .build(),
        ),
        (
            "By cost_center",
            GroupDefinition::builder()
                .r#type(GroupDefinitionType::Tag)
                .key("cost_center")
                .build(),
        ),
    ] {
        match adapters::top_costs(&deps.ce, &start, &end, group).await {
            Ok(v) if !v.is_empty() => {
                let line = v
                    .iter()
                    .take(3)
                    .map(|(k, a)| {
                        format!(
                            "{} {}",
                            k.trim_start_matches("env$")
                                .trim_start_matches("cost_center$"),
                            money(*a)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                n = n.fact(label, line);
            }
            Ok(_) => {}
            Err(e) => {
                n = n.fact(label, format!("unavailable ({e})"));
            }
        }
    }
    n = n.action(if worst >= Decimal::from(100) {
        "A budget is at or forecast over its limit: see its alert for what to do."
    } else {
        "Nothing to do: every budget is on track."
    });
    if dry_run {
        report.record(
            "digest",
            &today.to_string(),
            Outcome::changed("send digest"),
        );
    } else {
        let failures = deps.notifiers.send(&n).await;
        if !failures.is_empty() && once_a_day {
            let _ = deps.ledger.release(&day_key).await;
        }
        report.record("digest", &today.to_string(), sent(&failures));
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
            let a = domain::parse_anomaly(&json).map_err(GuardError::BadInput)?;
            notes.push((
                "anomaly",
                a.anomaly_id.clone().unwrap_or_default(),
                anomaly_note(&a),
            ));
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
                notice_note(&notice),
            )),
            Err(_) if looks_like_budgets => {
                // Tolerant: a wording we do not know still reaches people, as it came.
                let n = Notification::new(
                    Severity::Warning,
                    subject
                        .clone()
                        .unwrap_or_else(|| "AWS Budgets notification".into()),
                )
                .fact("Message", text.trim())
                .action("Open AWS Budgets for the details.");
                notes.push(("budgets-notice", "unparsed".into(), n));
            }
            Err(e) => {
                return Err(GuardError::BadInput(format!(
                    "unrecognised SNS message: {e}"
                )));
            }
        }
    }
    let mut report = RunReport::new(FUNCTION, "notice", false);
    for (kind, id, n) in notes {
        let failures = deps.notifiers.send(&n).await;
        report.record(kind, &id, sent(&failures));
    }
    Ok(report.finish())
}

fn notice_note(n: &domain::BudgetsNotice) -> Notification {
    let basis = match n.basis {
        Some(domain::Basis::Forecast) => "forecast",
        _ => "actual",
    };
    let name = n.budget_name.clone().unwrap_or_default();
    let amount = n.amount.map(money).unwrap_or_default();
    let mut note = Notification::new(
        if basis == "forecast" {
            Severity::Warning
        } else {
            Severity::Critical
        },
        format!("{name}: {basis} spend {amount} passed its alert threshold"),
    );
    if let Some(a) = &n.account {
        note = note.fact("Account", a);
    }
    if let (Some(b), Some(a)) = (n.budgeted, n.amount) {
        note = note.fact(
            "Budget",
            format!(
                "{} for the {} ({}% used)",
                money(b),
                n.period.as_deref().unwrap_or("period"),
                percent(a, b)
            ),
        );
    }
    if let Some(t) = n.threshold {
        note = note.fact("Alert threshold", money(t));
    }
    note.action(if basis == "forecast" {
        "Spend is on course to pass the budget: look at the top cost drivers in the daily digest and stop what is idle."
    } else {
        "Spend passed the threshold: find what grew (Cost Explorer by service) and stop or right-size it."
    })
}

fn anomaly_note(a: &domain::Anomaly) -> Notification {
    let total = a
        .impact
        .total_impact
        .map(money)
        .unwrap_or_else(|| "?".into());
    let mut n = Notification::new(
        Severity::Warning,
        format!(
            "Cost anomaly: {} spent {total} more than expected",
            a.dimensional_value.as_deref().unwrap_or("a service")
        ),
    );
    if let Some(acct) = &a.account_id {
        n = n.fact("Account", acct);
    }
    if let (Some(actual), Some(expected)) =
        (a.impact.total_actual_spend, a.impact.total_expected_spend)
    {
        n = n.fact(
            "Spend",
            format!("{} against {} expected", money(actual), money(expected)),
        );
    }
    n = n.fact(
        "Window",
        format!(
            "{} to {}",
            a.anomaly_start_date.as_deref().unwrap_or("?"),
            a.anomaly_end_date.as_deref().unwrap_or("now")
        ),
    );
    for (i, rc) in a.root_causes.iter().take(3).enumerate() {
        let who = rc
            .linked_account_name
            .clone()
            .or(rc.linked_account.clone())
            .unwrap_or_default();
        n = n.fact(
            format!("Root cause {}", i + 1),
            format!(
                "{} {} in {} ({who})",
                rc.service.as_deref().unwrap_or("?"),
                rc.usage_type.as_deref().unwrap_or(""),
                rc.region.as_deref().unwrap_or("?")
            ),
        );
    }
    if let Some(link) = &a.anomaly_details_link {
        n = n.fact("Details", link);
    }
    n.action("Check whether the root cause above was intended; if not, stop it and tell the team who owns it.")
}

/// For tests and the demo: the account → budget map from configuration.
pub fn desired_by_account(deps: &Deps) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in &deps.config.budgets {
        m.entry(b.account.clone()).or_default().push(b.name.clone());
    }
    m
}
