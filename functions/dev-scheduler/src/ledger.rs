//! The savings ledger: every transition the scheduler makes (down at, up at), per account and
//! month, and what the hours down saved at AWS's on-demand prices. Pure; stored by
//! `handler::savings` as one item per account and month.
//!
//! Only Caretaker's own transitions count: a resource found already stopped (by a person, by
//! another tool) was not stopped by Caretaker, and its time down is not Caretaker's saving.
//! Days are UTC days.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::prices::{Price, PriceKey};

/// What a resource bills an hour while it is up, as the scheduler saw it when it took it down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Sizing {
    /// An RDS instance (a Multi-AZ one bills its standby too: its price says Multi-AZ).
    #[serde(rename_all = "camelCase")]
    Instance {
        class: String,
        engine: String,
        multi_az: bool,
        region: String,
    },
    /// An Aurora cluster: each member instance bills on its own.
    #[serde(rename_all = "camelCase")]
    Aurora {
        engine: String,
        members: Vec<String>,
        region: String,
    },
    /// A managed node group's nodes (the size it was taken down from).
    #[serde(rename_all = "camelCase")]
    Nodes {
        instance_type: String,
        count: u32,
        region: String,
    },
    /// Pods on Fargate: each billed at its rounded size (`prices::fargate_size`).
    #[serde(rename_all = "camelCase")]
    Fargate {
        pods: u32,
        vcpu: Decimal,
        gb: Decimal,
        region: String,
    },
    /// Pods on a node group's nodes: their saving is the node group's.
    OnNodes,
}

impl Sizing {
    /// The prices it bills by, each with how many of it an hour.
    pub fn rates(&self) -> Vec<(PriceKey, Decimal)> {
        match self {
            Sizing::Instance {
                class,
                engine,
                multi_az,
                region,
            } => vec![(
                PriceKey::Database {
                    class: class.clone(),
                    engine: engine.clone(),
                    multi_az: *multi_az,
                    region: region.clone(),
                },
                Decimal::ONE,
            )],
            Sizing::Aurora {
                engine,
                members,
                region,
            } => {
                let mut by_class: BTreeMap<&String, u32> = BTreeMap::new();
                for m in members {
                    *by_class.entry(m).or_default() += 1;
                }
                by_class
                    .into_iter()
                    .map(|(class, n)| {
                        (
                            PriceKey::Database {
                                class: class.clone(),
                                engine: engine.clone(),
                                multi_az: false,
                                region: region.clone(),
                            },
                            Decimal::from(n),
                        )
                    })
                    .collect()
            }
            Sizing::Nodes {
                instance_type,
                count,
                region,
            } => vec![(
                PriceKey::Ec2 {
                    instance_type: instance_type.clone(),
                    region: region.clone(),
                },
                Decimal::from(*count),
            )],
            Sizing::Fargate {
                pods,
                vcpu,
                gb,
                region,
            } => vec![
                (
                    PriceKey::FargateVcpu {
                        region: region.clone(),
                    },
                    Decimal::from(*pods) * vcpu,
                ),
                (
                    PriceKey::FargateGb {
                        region: region.clone(),
                    },
                    Decimal::from(*pods) * gb,
                ),
            ],
            Sizing::OnNodes => Vec::new(),
        }
    }

    /// USD an hour while up; the keys with no price when it cannot be said.
    pub fn hourly<'a>(
        &self,
        price: impl Fn(&PriceKey) -> Option<&'a Price>,
    ) -> Result<Decimal, Vec<PriceKey>> {
        let mut sum = Decimal::ZERO;
        let mut unknown = Vec::new();
        for (key, n) in self.rates() {
            match price(&key) {
                Some(p) => sum += p.usd * n,
                None => unknown.push(key),
            }
        }
        if unknown.is_empty() {
            Ok(sum)
        } else {
            Err(unknown)
        }
    }

    /// How a person reads what it is: "db.t4g.small PostgreSQL Multi-AZ", "3 × db.r6g.large
    /// (Aurora)", "2 × t3.small", "2 pods × 0.5 vCPU / 2 GB on Fargate".
    pub fn label(&self) -> String {
        match self {
            Sizing::Instance { .. } => self.rates()[0].0.label(),
            Sizing::Aurora { members, .. } => {
                let mut counts: BTreeMap<&String, u32> = BTreeMap::new();
                for m in members {
                    *counts.entry(m).or_default() += 1;
                }
                let parts: Vec<String> = counts.iter().map(|(c, n)| format!("{n} × {c}")).collect();
                format!("{} (Aurora members)", parts.join(" + "))
            }
            Sizing::Nodes {
                instance_type,
                count,
                ..
            } => format!("{count} × {instance_type}"),
            Sizing::Fargate { pods, vcpu, gb, .. } => format!(
                "{pods} {} × {vcpu} vCPU / {gb} GB on Fargate",
                if *pods == 1 { "pod" } else { "pods" }
            ),
            Sizing::OnNodes => "on a node group's nodes (counted with it)".into(),
        }
    }
}

/// What a database bills an hour while up: an instance by its class, an Aurora cluster by its
/// members' classes. `None` when a fact is missing (an instance without a class, a cluster whose
/// members were not listed).
pub fn db_sizing(
    db: &crate::domain::Database,
    region: &str,
    classes: &std::collections::HashMap<String, String>,
) -> Option<Sizing> {
    let b = &db.billing;
    match db.kind {
        crate::domain::DbKind::Instance => Some(Sizing::Instance {
            class: b.class.clone()?,
            engine: b.engine.clone(),
            multi_az: b.multi_az,
            region: region.to_owned(),
        }),
        crate::domain::DbKind::Cluster => {
            let members: Option<Vec<String>> =
                b.members.iter().map(|m| classes.get(m).cloned()).collect();
            let members = members.filter(|m| !m.is_empty())?;
            Some(Sizing::Aurora {
                engine: b.engine.clone(),
                members,
                region: region.to_owned(),
            })
        }
    }
}

/// A transition the scheduler made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Down { resource: String, sizing: Sizing },
    Up { resource: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    pub since: DateTime<Utc>,
    pub sizing: Sizing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    pub sizing: Sizing,
    /// Seconds down per day of the month.
    pub days: BTreeMap<u32, i64>,
}

/// One account's month: what is down now (since when), and the seconds down per resource and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// `2026-12`.
    pub month: String,
    #[serde(default)]
    pub open: BTreeMap<String, Open>,
    #[serde(default)]
    pub closed: BTreeMap<String, Closed>,
}

/// `2026-12` for any time in December 2026 (UTC).
pub fn month_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

fn month_start(month: &str) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?))
}

fn next_month_start(month: &str) -> Option<DateTime<Utc>> {
    let s = month_start(month)?;
    let (y, m) = if s.month() == 12 {
        (s.year() + 1, 1)
    } else {
        (s.year(), s.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()
}

/// `[from, to)` cut at UTC midnights: (day of month, seconds) for each day it touches.
fn split_days(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(u32, i64)> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let midnight = Utc.from_utc_datetime(
            &(t.date_naive() + Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default(),
        );
        let end = midnight.min(to);
        out.push((t.day(), (end - t).num_seconds()));
        t = end;
    }
    out
}

impl Ledger {
    pub fn new(month: &str) -> Ledger {
        Ledger {
            month: month.to_owned(),
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
        }
    }

    /// This month's ledger, with what was still down at the end of `previous` carried in from
    /// the first instant of the month (and `previous` closed there: both are saved).
    pub fn carried_from(previous: &mut Ledger, month: &str) -> Ledger {
        let mut next = Ledger::new(month);
        if let Some(start) = month_start(month) {
            for (resource, open) in std::mem::take(&mut previous.open) {
                previous.close(&resource, &open, start);
                next.open.insert(
                    resource,
                    Open {
                        since: start.max(open.since),
                        sizing: open.sizing,
                    },
                );
            }
        }
        next
    }

    fn close(&mut self, resource: &str, open: &Open, at: DateTime<Utc>) {
        let (Some(start), Some(end)) = (month_start(&self.month), next_month_start(&self.month))
        else {
            return;
        };
        let from = open.since.max(start);
        let to = at.min(end);
        let entry = self
            .closed
            .entry(resource.to_owned())
            .or_insert_with(|| Closed {
                sizing: open.sizing.clone(),
                days: BTreeMap::new(),
            });
        entry.sizing = open.sizing.clone();
        for (day, secs) in split_days(from, to) {
            *entry.days.entry(day).or_default() += secs;
        }
    }

    /// A transition at `at`. A `Down` for what is already down keeps its start (a second run
    /// changes nothing); an `Up` for what Caretaker did not take down counts nothing.
    pub fn apply(&mut self, event: &Event, at: DateTime<Utc>) {
        match event {
            Event::Down { resource, sizing } => {
                self.open.entry(resource.clone()).or_insert_with(|| Open {
                    since: at,
                    sizing: sizing.clone(),
                });
            }
            Event::Up { resource } => {
                if let Some(open) = self.open.remove(resource) {
                    self.close(resource, &open, at);
                }
            }
        }
    }

    /// Seconds down per resource and day as of `now`: the closed intervals, and the open ones
    /// up to `now` (or the month's end).
    pub fn as_of(&self, now: DateTime<Utc>) -> BTreeMap<String, Closed> {
        let mut view = self.clone();
        for (resource, open) in std::mem::take(&mut view.open) {
            view.close(&resource, &open, now);
        }
        view.closed
    }
}

/// One resource's line of the savings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub resource: String,
    pub what: String,
    pub hours_down: Decimal,
    /// `None`: price unknown (never a guessed number).
    pub saved_usd: Option<Decimal>,
    pub saved_today_usd: Option<Decimal>,
}

/// What the nights saved, for the month and for today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Savings {
    pub month: String,
    pub month_usd: Decimal,
    pub today_usd: Decimal,
    pub resources: Vec<Line>,
    /// Resources whose price is unknown, left out of the totals.
    pub unknown: Vec<String>,
}

fn hours(secs: i64) -> Decimal {
    (Decimal::from(secs) / Decimal::from(3600)).round_dp(2)
}

/// Dollars and cents, always written with two decimals ("2.40").
pub fn money(d: Decimal) -> Decimal {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d
}

fn usd(secs: i64, hourly: Decimal) -> Decimal {
    money(Decimal::from(secs) * hourly / Decimal::from(3600))
}

pub fn savings<'a>(
    ledger: &Ledger,
    now: DateTime<Utc>,
    price: impl Fn(&PriceKey) -> Option<&'a Price> + Copy,
) -> Savings {
    let today = (month_of(now) == ledger.month).then(|| now.day());
    let mut out = Savings {
        month: ledger.month.clone(),
        month_usd: money(Decimal::ZERO),
        today_usd: money(Decimal::ZERO),
        resources: Vec::new(),
        unknown: Vec::new(),
    };
    for (resource, c) in ledger.as_of(now) {
        if c.sizing == Sizing::OnNodes {
            continue;
        }
        let total: i64 = c.days.values().sum();
        let today_secs = today.and_then(|d| c.days.get(&d)).copied().unwrap_or(0);
        let hourly = c.sizing.hourly(price).ok();
        if hourly.is_none() {
            out.unknown.push(resource.clone());
        }
        let line = Line {
            what: c.sizing.label(),
            hours_down: hours(total),
            saved_usd: hourly.map(|h| usd(total, h)),
            saved_today_usd: hourly.map(|h| usd(today_secs, h)),
            resource,
        };
        out.month_usd += line.saved_usd.unwrap_or_default();
        out.today_usd += line.saved_today_usd.unwrap_or_default();
        out.resources.push(line);
    }
    out
}

/// Something that bills whether dev is up or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Biller {
    /// "EKS control plane innovate-dev", "NAT gateway nat-0abc", ...
    pub what: String,
    pub key: PriceKey,
    /// How many of the price's unit it bills (the AZs of an endpoint, the GB of storage).
    pub quantity: Decimal,
}

/// One thing that keeps billing while dev is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StillBillingLine {
    pub what: String,
    /// `None`: price unknown.
    pub per_day_usd: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StillBilling {
    pub per_day_usd: Decimal,
    /// A month of 730 hours, as AWS prices one.
    pub per_month_usd: Decimal,
    pub items: Vec<StillBillingLine>,
}

/// Hours in a month as AWS's prices count them.
const HOURS_A_MONTH: i64 = 730;

pub fn still_billing<'a>(
    billers: &[Biller],
    price: impl Fn(&PriceKey) -> Option<&'a Price>,
) -> StillBilling {
    let mut items = Vec::new();
    let mut hourly_total = Decimal::ZERO;
    for b in billers {
        let hourly = price(&b.key).map(|p| {
            let per_unit_hour = if p.unit.eq_ignore_ascii_case("GB-Mo") {
                p.usd / Decimal::from(HOURS_A_MONTH)
            } else {
                p.usd
            };
            per_unit_hour * b.quantity
        });
        hourly_total += hourly.unwrap_or_default();
        items.push(StillBillingLine {
            what: b.what.clone(),
            per_day_usd: hourly.map(|h| money(h * Decimal::from(24))),
        });
    }
    StillBilling {
        per_day_usd: money(hourly_total * Decimal::from(24)),
        per_month_usd: money(hourly_total * Decimal::from(HOURS_A_MONTH)),
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap()
    }

    fn db() -> Sizing {
        Sizing::Instance {
            class: "db.t4g.small".into(),
            engine: "postgres".into(),
            multi_az: false,
            region: "us-east-1".into(),
        }
    }

    fn down(r: &str) -> Event {
        Event::Down {
            resource: r.into(),
            sizing: db(),
        }
    }

    fn up(r: &str) -> Event {
        Event::Up { resource: r.into() }
    }

    #[test]
    fn a_night_is_cut_at_midnight_and_counted_once() {
        let mut l = Ledger::new("2026-12");
        l.apply(&down("db"), t(1, 20));
        l.apply(&down("db"), t(1, 21)); // a second run: the start stays 20:00
        l.apply(&up("db"), t(2, 7));
        l.apply(&up("db"), t(2, 8)); // nothing open: nothing counted
        let days = &l.closed["db"].days;
        assert_eq!(days[&1], 4 * 3600);
        assert_eq!(days[&2], 7 * 3600);
    }

    #[test]
    fn an_up_without_a_down_by_caretaker_counts_nothing() {
        let mut l = Ledger::new("2026-12");
        l.apply(&up("stopped-by-hand"), t(2, 7));
        assert!(l.closed.is_empty() && l.open.is_empty());
    }

    #[test]
    fn what_is_down_at_the_month_end_is_carried_into_the_next() {
        let mut nov = Ledger::new("2026-11");
        nov.apply(
            &down("db"),
            Utc.with_ymd_and_hms(2026, 11, 30, 20, 0, 0).unwrap(),
        );
        let mut dec = Ledger::carried_from(&mut nov, "2026-12");
        assert_eq!(nov.closed["db"].days[&30], 4 * 3600);
        assert!(nov.open.is_empty());
        dec.apply(&up("db"), t(1, 7));
        assert_eq!(dec.closed["db"].days[&1], 7 * 3600);
    }

    #[test]
    fn an_open_interval_counts_up_to_now() {
        let mut l = Ledger::new("2026-12");
        l.apply(&down("db"), t(4, 20));
        let view = l.as_of(t(4, 23));
        assert_eq!(view["db"].days[&4], 3 * 3600);
        assert!(l.closed.is_empty(), "the view does not change the ledger");
    }

    #[test]
    fn aurora_members_and_node_counts_multiply() {
        let a = Sizing::Aurora {
            engine: "aurora-postgresql".into(),
            members: vec!["db.r6g.large".into(); 3],
            region: "us-east-1".into(),
        };
        let rates = a.rates();
        assert_eq!(rates.len(), 1);
        assert_eq!(rates[0].1, Decimal::from(3));
        assert_eq!(a.label(), "3 × db.r6g.large (Aurora members)");
    }
}
