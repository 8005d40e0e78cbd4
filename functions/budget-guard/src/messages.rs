//! What budget-guard tells people: threshold alerts, AWS Budgets' notices made readable, cost
//! anomalies, the dev shutdown it asked for, and the daily digest. Pure functions over plain
//! data; every text from outside goes into a fact or a title as plain text (the sinks escape it).

use caretaker_shared::notify::{Notification, Severity};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::{
    Anomaly, Basis, BudgetsNotice, DesiredBudget, ExistingBudget, Threshold, days_left_in_month,
    money, money_against, percent,
};

pub(crate) fn threshold(
    d: &DesiredBudget,
    b: &ExistingBudget,
    fresh: &[Threshold],
    today: NaiveDate,
) -> Notification {
    let top_actual = fresh
        .iter()
        .filter(|t| t.basis == Basis::Actual)
        .map(|t| t.percent)
        .max()
        .unwrap_or(0);
    let forecast_over = fresh.iter().any(|t| t.basis == Basis::Forecast);
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
        .fact(
            "Spent so far",
            format!("{} ({pct}%)", money_against(b.actual, b.limit)),
        )
        .fact(
            "Days left in the month",
            format!("{} (today included)", days_left_in_month(today)),
        );
    if let Some(f) = b.forecast {
        n = n.fact(
            "Forecast for the month",
            format!("{} ({}%)", money_against(f, b.limit), percent(f, b.limit)),
        );
    }
    n = n.fact("Thresholds crossed", labels(fresh));
    n.action(if level >= 120 {
        "Escalation: find the runaway resource now (Cost Explorer, grouped by service and usage type) and stop it."
    } else if level >= 100 {
        "Check the top cost drivers in today's digest; stop what is idle, or raise the budget if the spend is expected."
    } else {
        "No action needed yet: watch the trend in the daily digest."
    })
}

/// "50% actual, 80% actual".
pub(crate) fn labels(thresholds: &[Threshold]) -> String {
    thresholds
        .iter()
        .map(Threshold::label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a dev shutdown is asked for: "dev-monthly reached 100% actual ($400.00 of $400.00)".
pub(crate) fn shutdown_reason(d: &DesiredBudget, b: &ExistingBudget, at: Threshold) -> String {
    let spend = match at.basis {
        Basis::Actual => b.actual,
        Basis::Forecast => b.forecast.unwrap_or_default(),
    };
    format!(
        "{} reached {} ({} of {})",
        d.name,
        at.label(),
        money_against(spend, b.limit),
        money(b.limit)
    )
}

/// The reason of a shutdown asked for from a Budgets notice (what the notice said).
pub(crate) fn notice_shutdown_reason(
    d: &DesiredBudget,
    at: Threshold,
    amount: Decimal,
    budgeted: Decimal,
) -> String {
    format!(
        "{} reached {} ({} of {}), per AWS Budgets' notice",
        d.name,
        at.label(),
        money_against(amount, budgeted),
        money(budgeted)
    )
}

pub(crate) fn shutdown(d: &DesiredBudget, reason: &str) -> Notification {
    Notification::new(
        Severity::Critical,
        format!("Dev shutdown requested for {} ({})", d.env, d.account),
    )
    .fact("Why", reason)
    .fact(
        "What happens",
        "dev-scheduler stops the dev workloads, node groups and databases now",
    )
    .action("Nothing, if dev can wait: the normal morning startup brings it back. To keep it up, raise the budget or set caretaker/keep-up-until.")
}

pub(crate) fn notice(n: &BudgetsNotice) -> Notification {
    let forecast = n.basis == Some(Basis::Forecast);
    let basis = if forecast { "forecast" } else { "actual" };
    let name = n.budget_name.clone().unwrap_or_default();
    let amount = n.amount.map(money).unwrap_or_default();
    let mut note = Notification::new(
        if forecast {
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
    note.action(if forecast {
        "Spend is on course to pass the budget: look at the top cost drivers in the daily digest and stop what is idle."
    } else {
        "Spend passed the threshold: find what grew (Cost Explorer by service) and stop or right-size it."
    })
}

/// A Budgets wording budget-guard does not know: it still reaches people, as it came (capped).
pub(crate) fn unparsed_notice(subject: Option<&str>, text: &str) -> Notification {
    Notification::new(
        Severity::Warning,
        subject.unwrap_or("AWS Budgets notification"),
    )
    .fact("Message", text.trim())
    .action("Open AWS Budgets for the details.")
}

pub(crate) fn anomaly(a: &Anomaly) -> Notification {
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

/// One account's part of the digest.
pub(crate) enum DigestAccount<'a> {
    Read(&'a str, &'a [ExistingBudget]),
    Unreadable(&'a str, &'a str),
}

/// Cost Explorer's month-to-date breakdowns: (label, the top groups or why there are none).
pub(crate) type CostLines = Vec<(&'static str, Result<Vec<(String, Decimal)>, String>)>;

/// The label Cost Explorer's tag keys read as: `env$dev` → `dev`, `cost_center$` → `untagged`.
pub(crate) fn cost_label(key: &str) -> String {
    let value = match key.split_once('$') {
        Some((_, v)) => v,
        None => key,
    };
    if value.trim().is_empty() {
        "untagged".to_owned()
    } else {
        value.to_owned()
    }
}

pub(crate) fn digest(
    today: NaiveDate,
    accounts: &[DigestAccount<'_>],
    costs: &CostLines,
    nights: &[(String, Result<String, String>)],
) -> Notification {
    let mut n = Notification::new(
        Severity::Info,
        format!(
            "Cost digest {today}: {} days left in the month (today included)",
            days_left_in_month(today)
        ),
    );
    let mut worst = Decimal::ZERO;
    for account in accounts {
        match account {
            DigestAccount::Read(account, budgets) => {
                for b in budgets.iter() {
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
                            money_against(b.actual, b.limit),
                            money(b.limit)
                        ),
                    );
                }
            }
            DigestAccount::Unreadable(account, e) => {
                n = n.fact(
                    format!("account {account}"),
                    format!("could not be read: {e}"),
                );
            }
        }
    }
    for (label, groups) in costs {
        match groups {
            Ok(v) if !v.is_empty() => {
                let line = v
                    .iter()
                    .take(3)
                    .map(|(k, a)| format!("{} {}", cost_label(k), money(*a)))
                    .collect::<Vec<_>>()
                    .join(", ");
                n = n.fact(*label, line);
            }
            Ok(_) => {}
            Err(e) => n = n.fact(*label, format!("unavailable ({e})")),
        }
    }
    for (account, line) in nights {
        n = n.fact(
            format!("Dev nights ({account})"),
            match line {
                Ok(l) => l.clone(),
                Err(e) => format!("could not be read: {e}"),
            },
        );
    }
    n.action(if worst >= Decimal::from(100) {
        "A budget is at or forecast over its limit: see its alert for what to do."
    } else {
        "Nothing to do: every budget is on track."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_cost_has_a_name() {
        assert_eq!(cost_label("cost_center$"), "untagged");
        assert_eq!(cost_label("env$dev"), "dev");
        assert_eq!(cost_label("Amazon RDS"), "Amazon RDS");
    }

    #[test]
    fn an_unknown_budgets_wording_is_forwarded_with_its_subject() {
        let n = unparsed_notice(Some("AWS Budgets: x"), "  odd text \n");
        assert_eq!(n.title, "AWS Budgets: x");
        assert_eq!(n.facts[0].1, "odd text");
    }
}
