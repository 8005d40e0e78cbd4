//! Pure rules: which thresholds a budget has crossed, what a reconcile must change, and how AWS
//! Budgets' plain-text and Cost Anomaly Detection messages read. Money is `Decimal`, never float.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use regex::Regex;
use rust_decimal::Decimal;
use rust_decimal::prelude::*;
use serde::{Deserialize, Serialize};

/// Rounded as accountants expect: to the cent, half away from zero (400.105 → 400.11).
fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// `$1,234.50`.
pub fn money(d: Decimal) -> String {
    let d = cents(d);
    let s = format!("{:.2}", d.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!(
        "{}${grouped}.{frac}",
        if d.is_sign_negative() { "-" } else { "" }
    )
}

/// An amount shown beside its limit: rounded to the cent, except that a spend below the limit is
/// never shown equal to or above it, nor one above it as equal or below (400.095 of 400.10 reads
/// $400.09, not $400.10).
pub fn money_against(spend: Decimal, limit: Decimal) -> String {
    money(beside(spend, limit, cents, Decimal::new(1, 2)))
}

/// `value` rounded by `round`, moved one `step` off the rounded `bound` when rounding alone would
/// put it on the wrong side of (or onto) the bound.
fn beside(
    value: Decimal,
    bound: Decimal,
    round: impl Fn(Decimal) -> Decimal,
    step: Decimal,
) -> Decimal {
    let (v, b) = (round(value), round(bound));
    if value < bound && v >= b {
        b - step
    } else if value > bound && v <= b {
        b + step
    } else {
        v
    }
}

/// The exact share of `whole` that `part` is, in percent: what thresholds compare.
pub fn ratio(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        return Decimal::ZERO;
    }
    part * Decimal::from(100) / whole
}

/// The share for display, to one decimal (half away from zero), never shown at or over 100 when
/// below it, nor at or under 100 when over it.
pub fn percent(part: Decimal, whole: Decimal) -> Decimal {
    let tenth = |d: Decimal| d.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    beside(
        ratio(part, whole),
        Decimal::from(100),
        tenth,
        Decimal::new(1, 1),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Actual,
    Forecast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Threshold {
    pub basis: Basis,
    pub percent: u32,
}

impl Threshold {
    pub fn key(&self) -> String {
        format!(
            "{}-{}",
            match self.basis {
                Basis::Actual => "actual",
                Basis::Forecast => "forecast",
            },
            self.percent
        )
    }
    pub fn label(&self) -> String {
        format!(
            "{}% {}",
            self.percent,
            match self.basis {
                Basis::Actual => "actual",
                Basis::Forecast => "forecast",
            }
        )
    }
}

/// Alert levels: 50 / 80 / 100 % actual, 100 % forecast, escalations at 120 % and 150 % actual.
pub const LEVELS: [Threshold; 6] = [
    Threshold {
        basis: Basis::Actual,
        percent: 50,
    },
    Threshold {
        basis: Basis::Actual,
        percent: 80,
    },
    Threshold {
        basis: Basis::Actual,
        percent: 100,
    },
    Threshold {
        basis: Basis::Actual,
        percent: 120,
    },
    Threshold {
        basis: Basis::Actual,
        percent: 150,
    },
    Threshold {
        basis: Basis::Forecast,
        percent: 100,
    },
];

/// Every level the spend has reached (an alert is sent once per level and period, so a jump
/// from 40 % to 130 % reports the highest and records the ones below as passed).
pub fn crossed(actual: Decimal, forecast: Option<Decimal>, limit: Decimal) -> Vec<Threshold> {
    if limit <= Decimal::ZERO {
        return Vec::new();
    }
    LEVELS
        .iter()
        .copied()
        .filter(|t| {
            let spend = match t.basis {
                Basis::Actual => Some(actual),
                Basis::Forecast => forecast,
            };
            // Exact: 99.9988 % is not 100 %.
            spend.is_some_and(|s| ratio(s, limit) >= Decimal::from(t.percent))
        })
        .collect()
}

/// `2026-11`: thresholds re-arm when the month changes.
pub fn period(today: NaiveDate) -> String {
    format!("{:04}-{:02}", today.year(), today.month())
}

/// The ledger's key for a once-per-period claim (`what`: a threshold's key, or `shutdown`), built
/// here only, so a claim and its release can never disagree.
pub fn claim_key(account: &str, budget: &str, period: &str, what: &str) -> String {
    format!("{account}#{budget}#{period}#{what}")
}

/// The ledger's key for the day's digest.
pub fn digest_key(today: NaiveDate) -> String {
    format!("digest#{today}")
}

pub fn days_left_in_month(today: NaiveDate) -> u32 {
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    let first_next = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(today);
    (first_next - today).num_days().max(0) as u32
}

/// A budget as configuration wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DesiredBudget {
    pub account: String,
    pub env: String,
    pub name: String,
    pub limit: Decimal,
    /// Tag filters, e.g. {"env": "dev", "project": "innovate"}.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Dev overspend action: shut the environment down at this level (opt-in).
    #[serde(default)]
    pub shutdown_at: Option<Threshold>,
}

/// A budget as AWS has it (the parts we manage). Every budget lives in the management account
/// (AWS Organizations' pattern): the member account it watches is its `LinkedAccount` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingBudget {
    pub name: String,
    pub limit: Decimal,
    pub tag_filters: Vec<String>,
    pub linked_accounts: Vec<String>,
    pub actual: Decimal,
    pub forecast: Option<Decimal>,
}

/// AWS's tag filter form: `user:env$dev`.
pub fn tag_filters(tags: &BTreeMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = tags
        .iter()
        .map(|(k, val)| format!("user:{k}${val}"))
        .collect();
    v.sort();
    v
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create(DesiredBudget),
    Update {
        desired: DesiredBudget,
        what: Vec<String>,
    },
    Unchanged(String),
    /// Present in AWS, not in configuration: reported, never touched.
    Unmanaged(String),
}

pub fn plan(desired: &[DesiredBudget], existing: &[ExistingBudget]) -> Vec<Change> {
    let mut out = Vec::new();
    for d in desired {
        match existing.iter().find(|e| e.name == d.name) {
            None => out.push(Change::Create(d.clone())),
            Some(e) => {
                let mut what = Vec::new();
                if e.limit.normalize() != d.limit.normalize() {
                    what.push(format!("limit {} → {}", money(e.limit), money(d.limit)));
                }
                if e.linked_accounts != [d.account.clone()] {
                    what.push(format!(
                        "linked account {:?} → [{:?}]",
                        e.linked_accounts, d.account
                    ));
                }
                let mut have = e.tag_filters.clone();
                have.sort();
                if have != tag_filters(&d.tags) {
                    what.push(format!(
                        "tag filters {:?} → {:?}",
                        have,
                        tag_filters(&d.tags)
                    ));
                }
                if what.is_empty() {
                    out.push(Change::Unchanged(d.name.clone()));
                } else {
                    out.push(Change::Update {
                        desired: d.clone(),
                        what,
                    });
                }
            }
        }
    }
    for e in existing {
        if !desired.iter().any(|d| d.name == e.name) {
            out.push(Change::Unmanaged(e.name.clone()));
        }
    }
    out
}

/// The alerts every managed budget sends to the notice topic: 50 / 80 / 100 % actual and
/// 100 % forecast (the 120 % level is budget-guard's own escalation, not an AWS alert).
pub fn alert_levels() -> impl Iterator<Item = Threshold> {
    LEVELS.into_iter().filter(|t| t.percent <= 100)
}

/// The alerts a budget lacks, given the percentage alerts (`GREATER_THAN`) it has. Extra alerts
/// (someone's own, other thresholds) are never removed.
pub fn missing_alerts(have: &[Threshold]) -> Vec<Threshold> {
    alert_levels().filter(|t| !have.contains(t)).collect()
}

/// What AWS Budgets says in its plain-text SNS notifications.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetsNotice {
    pub account: Option<String>,
    pub budget_name: Option<String>,
    pub basis: Option<Basis>,
    pub period: Option<String>,
    pub budgeted: Option<Decimal>,
    pub threshold: Option<Decimal>,
    pub amount: Option<Decimal>,
}

fn amount(s: &str) -> Option<Decimal> {
    Decimal::from_str(&s.replace(['$', ',', ' '], "").replace("USD", "")).ok()
}

/// Parse tolerantly: `Key: value` lines and the "for the current month/day/quarter" sentence.
/// Nothing recognisable → an error naming what is missing (the caller falls back to raw text).
pub fn parse_budgets_notice(text: &str) -> Result<BudgetsNotice, String> {
    let line = |key: &str| -> Option<String> {
        let re = Regex::new(&format!(r"(?mi)^\s*{key}\s*:\s*(.+?)\s*$")).ok()?;
        re.captures(text).map(|c| c[1].to_owned())
    };
    let mut n = BudgetsNotice {
        account: Regex::new(r"(?i)AWS Account\s*:?\s*(\d{12})")
            .ok()
            .and_then(|r| r.captures(text))
            .map(|c| c[1].to_owned()),
        budget_name: line("Budget Name"),
        budgeted: line("Budgeted Amount").and_then(|v| amount(&v)),
        threshold: line("Alert Threshold")
            .and_then(|v| amount(v.trim_start_matches(['>', '<', '=', ' ']))),
        ..Default::default()
    };
    n.basis = match line("Alert Type").map(|v| v.to_ascii_uppercase()) {
        Some(v) if v.contains("FORECAST") => Some(Basis::Forecast),
        Some(v) if v.contains("ACTUAL") => Some(Basis::Actual),
        _ => None,
    };
    n.amount = line("ACTUAL Amount")
        .or_else(|| line("FORECASTED Amount"))
        .or_else(|| line("Forecasted Amount"))
        .and_then(|v| amount(&v));
    n.period = Regex::new(r"(?i)for the current (day|month|quarter|year)")
        .ok()
        .and_then(|r| r.captures(text))
        .map(|c| c[1].to_lowercase());
    if n.budget_name.is_none() || n.amount.is_none() {
        return Err("not an AWS Budgets notification: no \"Budget Name\" or amount found".into());
    }
    Ok(n)
}

/// Cost Anomaly Detection, from SNS JSON or the `aws.ce` "Anomaly Detected" event detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Anomaly {
    pub account_id: Option<String>,
    pub anomaly_id: Option<String>,
    pub anomaly_start_date: Option<String>,
    pub anomaly_end_date: Option<String>,
    pub dimensional_value: Option<String>,
    pub anomaly_details_link: Option<String>,
    pub root_causes: Vec<RootCause>,
    pub impact: Impact,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct RootCause {
    pub service: Option<String>,
    pub region: Option<String>,
    pub usage_type: Option<String>,
    pub linked_account: Option<String>,
    pub linked_account_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Impact {
    pub max_impact: Option<Decimal>,
    pub total_impact: Option<Decimal>,
    pub total_actual_spend: Option<Decimal>,
    pub total_expected_spend: Option<Decimal>,
}

pub fn parse_anomaly(v: &serde_json::Value) -> Result<Anomaly, String> {
    // Numbers arrive as JSON numbers: go through their text to keep them exact.
    let exact =
        serde_json::from_str::<serde_json::Value>(&v.to_string()).map_err(|e| e.to_string())?;
    let a: Anomaly =
        serde_json::from_value(exact).map_err(|e| format!("malformed anomaly: {e}"))?;
    if a.anomaly_id.is_none() && a.impact.total_impact.is_none() {
        return Err("not a Cost Anomaly Detection message: no anomalyId or impact".into());
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn only_missing_alerts_are_added_and_extra_ones_are_kept() {
        let all: Vec<Threshold> = alert_levels().collect();
        assert_eq!(all.len(), 4);
        assert!(missing_alerts(&all).is_empty());
        let partial = [
            all[0],
            Threshold {
                basis: Basis::Actual,
                percent: 90,
            },
        ];
        assert_eq!(missing_alerts(&partial), all[1..].to_vec());
    }

    #[test]
    fn thresholds_compare_exact_amounts_not_rounded_ones() {
        // 400.095 of 400.10 is 99.9988 %: not the 100 % alert.
        let t = crossed(d("400.095"), None, d("400.10"));
        assert!(
            !t.iter().any(|t| t.percent == 100),
            "{:?}",
            t.iter().map(Threshold::key).collect::<Vec<_>>()
        );
        assert!(
            crossed(d("400.10"), None, d("400.10"))
                .iter()
                .any(|t| t.percent == 100)
        );
    }

    #[test]
    fn money_rounds_half_away_from_zero_and_never_crosses_the_limit() {
        assert_eq!(money(d("400.105")), "$400.11");
        assert_eq!(money(d("-400.105")), "-$400.11");
        assert_eq!(money_against(d("400.095"), d("400.10")), "$400.09");
        assert_eq!(money_against(d("400.104"), d("400.10")), "$400.11");
        assert_eq!(money_against(d("400.10"), d("400.10")), "$400.10");
        assert_eq!(money_against(d("12.344"), d("400.10")), "$12.34");
        assert_eq!(percent(d("400.095"), d("400.10")), d("99.9"));
        assert_eq!(percent(d("400.2"), d("400")), d("100.1"));
        assert_eq!(percent(d("330"), d("400")), d("82.5"));
    }

    #[test]
    fn money_is_exact_and_grouped() {
        assert_eq!(money(d("1234.5")), "$1,234.50");
        assert_eq!(money(d("0.1") + d("0.2")), "$0.30");
        assert_eq!(money(d("1000000")), "$1,000,000.00");
    }

    #[test]
    fn thresholds_under_near_over_and_forecast_only() {
        assert!(
            crossed(d("100"), Some(d("150")), d("400")).is_empty(),
            "under budget"
        );
        let near = crossed(d("330"), Some(d("390")), d("400"));
        assert_eq!(
            near.iter().map(Threshold::key).collect::<Vec<_>>(),
            ["actual-50", "actual-80"]
        );
        let forecast_only = crossed(d("150"), Some(d("436.90")), d("400"));
        assert_eq!(
            forecast_only.iter().map(Threshold::key).collect::<Vec<_>>(),
            ["forecast-100"]
        );
        let over = crossed(d("620"), None, d("400"));
        assert_eq!(over.last().unwrap().key(), "actual-150", "escalation");
    }

    #[test]
    fn periods_and_days_left() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(period(day), "2026-11");
        assert_eq!(days_left_in_month(day), 3);
        assert_eq!(
            days_left_in_month(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
            1
        );
    }

    #[test]
    fn reconcile_plan() {
        let want = |name: &str, limit: &str| DesiredBudget {
            account: "1".into(),
            env: "dev".into(),
            name: name.into(),
            limit: d(limit),
            tags: BTreeMap::from([("env".into(), "dev".into())]),
            shutdown_at: None,
        };
        let have = |name: &str, limit: &str| ExistingBudget {
            name: name.into(),
            limit: d(limit),
            tag_filters: vec!["user:env$dev".into()],
            linked_accounts: vec!["1".into()],
            actual: Decimal::ZERO,
            forecast: None,
        };
        // A budget of the management account watching another account than configured.
        let elsewhere = ExistingBudget {
            linked_accounts: vec!["2".into()],
            ..have("d", "10")
        };
        let p = plan(
            &[
                want("a", "400"),
                want("b", "500"),
                want("c", "10"),
                want("d", "10"),
            ],
            &[
                have("a", "400.00"),
                have("b", "450"),
                have("manual", "1"),
                elsewhere,
            ],
        );
        assert_eq!(p[0], Change::Unchanged("a".into()));
        assert!(
            matches!(&p[1], Change::Update { what, .. } if what[0] == "limit $450.00 → $500.00")
        );
        assert!(matches!(&p[2], Change::Create(b) if b.name == "c"));
        assert!(
            matches!(&p[3], Change::Update { what, .. } if what[0] == r#"linked account ["2"] → ["1"]"#),
            "{:?}",
            p[3]
        );
        assert_eq!(p[4], Change::Unmanaged("manual".into()));
    }
}
