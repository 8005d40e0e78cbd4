//! The savings ledger's side of a run. After a real run, the account's transitions (Caretaker's
//! own: a resource found already stopped is not one) go into the month's ledger; `status` says
//! what the nights saved this month and today, per resource, and what keeps billing while dev is
//! off, priced from the Price List API (cached a week in the memory table).

use std::collections::{BTreeMap, BTreeSet};

use caretaker_shared::report::{Outcome, ResourceResult, RunReport};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rust_decimal::Decimal;
use tracing::info;

use super::Layer;
use crate::billing::{self, PriceError};
use crate::eks::Cluster;
use crate::ledger::{self, Biller, Event, Ledger, Sizing, still_billing};
use crate::prices::{self, Freshness, Price, PriceKey};
use crate::{Deps, rds};

/// The kinds of resource whose hours down are counted.
const COUNTED: [&str; 5] = [
    "rds-instance",
    "rds-cluster",
    "eks-nodegroup",
    "k8s-deployment",
    "k8s-statefulset",
];

/// A transition read from one result of the run: `Some(true)` down, `Some(false)` up.
fn direction(r: &ResourceResult) -> Option<bool> {
    let Outcome::Changed { action } = &r.outcome else {
        return None;
    };
    if !COUNTED.contains(&r.kind.as_str()) {
        return None;
    }
    if action == "stopped" || action.starts_with("scaled to 0") {
        Some(true)
    } else if action == "started" || action.starts_with("scaled back") {
        Some(false)
    } else {
        None
    }
}

/// The ledger's events from a run's results. Workloads need to know whether their namespace
/// runs on Fargate (`fargate`: cluster → namespaces); one whose cluster is not in it is left out.
pub(crate) fn events(
    results: &[ResourceResult],
    region: &str,
    fargate: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Event> {
    let mut out = Vec::new();
    for r in results {
        let Some(down) = direction(r) else { continue };
        let resource = format!("{}/{}", r.kind, r.id);
        if !down {
            out.push(Event::Up { resource });
            continue;
        }
        let sizing = if r.kind.starts_with("k8s-") {
            workload_sizing(r, region, fargate)
        } else {
            r.details
                .get("sizing")
                .and_then(|s| serde_json::from_value::<Sizing>(s.clone()).ok())
        };
        if let Some(sizing) = sizing {
            out.push(Event::Down { resource, sizing });
        }
    }
    out
}

fn workload_sizing(
    r: &ResourceResult,
    region: &str,
    fargate: &BTreeMap<String, BTreeSet<String>>,
) -> Option<Sizing> {
    let pods = r.details.get("pods")?;
    let cluster = r.id.split('/').next()?;
    let namespace = pods.get("namespace")?.as_str()?;
    if !fargate.get(cluster)?.contains(namespace) {
        return Some(Sizing::OnNodes);
    }
    let (vcpu, gb) = prices::fargate_size(
        pods.get("cpuMillis")?.as_u64()?,
        pods.get("memoryMiB")?.as_u64()?,
    )?;
    Some(Sizing::Fargate {
        pods: u32::try_from(pods.get("replicas")?.as_u64()?).ok()?,
        vcpu,
        gb,
        region: region.to_owned(),
    })
}

/// The clusters whose workloads changed in this run.
fn clusters_with_workload_changes(results: &[ResourceResult]) -> BTreeSet<String> {
    results
        .iter()
        .filter(|r| r.kind.starts_with("k8s-") && direction(r) == Some(true))
        .filter_map(|r| r.id.split('/').next().map(str::to_owned))
        .collect()
}

impl Layer<'_> {
    /// After a real run: its transitions into the account's ledger for the month (read and
    /// written only when there are some). A failure is reported; the run stands.
    pub(super) async fn record_savings(
        &self,
        first: usize,
        clusters: &[Cluster],
        report: &mut RunReport,
    ) {
        let Some(state) = &self.deps.state else {
            return;
        };
        let results = &report.resources[first..];
        if !results.iter().any(|r| direction(r).is_some()) {
            return;
        }
        let mut fargate = BTreeMap::new();
        for cluster in clusters_with_workload_changes(results) {
            match billing::fargate_namespaces(&self.eks, &cluster).await {
                Ok(ns) => {
                    fargate.insert(cluster, ns);
                }
                Err(e) => {
                    report
                        .record(
                            "savings-ledger",
                            self.account(),
                            Outcome::failed(format!(
                                "which namespaces of {cluster} run on Fargate: {e}; its workloads' hours are not counted"
                            )),
                        )
                        .in_account(self.account());
                    return;
                }
            }
        }
        let results = &report.resources[first..];
        let events = events(results, &self.region(), &fargate);
        let now = self.decider.now;
        let ledger = match self.apply(state, &events, now).await {
            Ok(l) => l,
            Err(e) => {
                report
                    .record(
                        "savings-ledger",
                        self.account(),
                        Outcome::failed(format!("the savings ledger was not updated: {e}")),
                    )
                    .in_account(self.account());
                return;
            }
        };
        // budget-guard's digest reads the account's summary: written with each transition.
        let summary = self.summary(&ledger, clusters, now).await;
        if let Err(e) = state.save_summary(self.account(), &summary).await {
            report
                .record(
                    "savings-ledger",
                    self.account(),
                    Outcome::failed(format!("the savings summary was not written: {e}")),
                )
                .in_account(self.account());
        }
    }

    /// The month so far and what still bills, for budget-guard's digest.
    async fn summary(
        &self,
        ledger: &Ledger,
        clusters: &[Cluster],
        now: DateTime<Utc>,
    ) -> caretaker_shared::contract::SavingsSummary {
        let (billers, _) = self.billers(clusters).await;
        let mut keys: BTreeSet<PriceKey> = billers.iter().map(|b| b.key.clone()).collect();
        for c in ledger.as_of(now).values() {
            keys.extend(c.sizing.rates().into_iter().map(|(k, _)| k));
        }
        let book = price_book(self.deps, keys, now).await;
        let price = |k: &PriceKey| book.prices.get(&k.id());
        let saved = ledger::savings(ledger, now, price);
        let billing = still_billing(&billers, price);
        // Grouped by what it is: "2 NAT gateways $2.16/day".
        let mut groups: BTreeMap<String, (u32, Option<Decimal>)> = BTreeMap::new();
        for (b, line) in billers.iter().zip(&billing.items) {
            let g = groups
                .entry(b.key.group())
                .or_insert((0, Some(Decimal::ZERO)));
            g.0 += 1;
            g.1 = match (g.1, line.per_day_usd) {
                (Some(sum), Some(d)) => Some(sum + d),
                _ => None,
            };
        }
        caretaker_shared::contract::SavingsSummary {
            month: saved.month,
            month_usd: saved.month_usd.to_string(),
            unknown: saved.unknown.len(),
            still_billing_per_day_usd: billing.per_day_usd.to_string(),
            still_billing: groups
                .into_iter()
                .map(|(what, (n, usd))| (what, n, usd.map(|u| ledger::money(u).to_string())))
                .collect(),
            price_date: book.prices.values().map(|p| p.effective.clone()).max(),
            at: now,
        }
    }

    async fn apply(
        &self,
        state: &crate::state::State,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<Ledger, String> {
        let account = self.account();
        let month = ledger::month_of(now);
        let mut ledger = match state.load_ledger(account, &month).await? {
            Some(l) => l,
            None => self.carry_in(state, &month, now).await?,
        };
        let before = ledger.clone();
        for e in events {
            ledger.apply(e, now);
        }
        if ledger != before {
            state.save_ledger(account, &ledger).await?;
            info!(account, events = events.len(), month = %month, "savings ledger updated");
        }
        Ok(ledger)
    }

    /// The first ledger of a month: what the previous month left down is carried in (and the
    /// previous month closed at its end, and saved).
    async fn carry_in(
        &self,
        state: &crate::state::State,
        month: &str,
        now: DateTime<Utc>,
    ) -> Result<Ledger, String> {
        let previous_month =
            ledger::month_of(now - chrono::Duration::days(i64::from(chrono::Datelike::day(&now))));
        match state.load_ledger(self.account(), &previous_month).await? {
            Some(mut prev) if !prev.open.is_empty() => {
                let next = Ledger::carried_from(&mut prev, month);
                state.save_ledger(self.account(), &prev).await?;
                Ok(next)
            }
            _ => Ok(Ledger::new(month)),
        }
    }

    /// `status`: the month's savings and what still bills, as one report entry.
    pub(super) async fn savings_status(&self, clusters: &[Cluster], report: &mut RunReport) {
        let now = self.decider.now;
        let month = ledger::month_of(now);
        let ledger = match &self.deps.state {
            None => Ok(None),
            Some(state) => state.load_ledger(self.account(), &month).await,
        };
        let (billers, billers_error) = self.billers(clusters).await;
        let mut keys: BTreeSet<PriceKey> = billers.iter().map(|b| b.key.clone()).collect();
        if let Ok(Some(l)) = &ledger {
            for c in l.as_of(now).values() {
                keys.extend(c.sizing.rates().into_iter().map(|(k, _)| k));
            }
        }
        let book = price_book(self.deps, keys, now).await;
        let price = |k: &PriceKey| book.prices.get(&k.id());
        let r = report
            .record("savings", self.account(), Outcome::Unchanged)
            .in_account(self.account());
        match &ledger {
            Ok(l) => {
                let l = l.clone().unwrap_or_else(|| Ledger::new(&month));
                r.detail("savings", ledger::savings(&l, now, price));
            }
            Err(e) => {
                r.detail("savingsError", e);
            }
        }
        r.detail("stillBilling", still_billing(&billers, price));
        if let Some(e) = billers_error {
            r.detail("stillBillingError", e);
        }
        r.detail("prices", &book.notes);
        if let Some(date) = book.prices.values().map(|p| p.effective.clone()).max() {
            r.detail("priceDate", date);
        }
    }

    /// What bills whether dev is up or not: each EKS control plane, the network (load balancers,
    /// NAT gateways, interface endpoints), the storage of stopped databases.
    async fn billers(&self, clusters: &[Cluster]) -> (Vec<Biller>, Option<String>) {
        let region = self.region();
        let mut out: Vec<Biller> = clusters
            .iter()
            .map(|c| Biller {
                what: format!("EKS control plane {}", c.name),
                key: PriceKey::EksCluster {
                    region: region.clone(),
                },
                quantity: Decimal::ONE,
            })
            .collect();
        let mut errors = Vec::new();
        match billing::network_billers(self.cfg, &region).await {
            Ok(b) => out.extend(b),
            Err(e) => errors.push(e),
        }
        match rds::instances(&self.rds).await {
            Ok(dbs) => out.extend(
                dbs.into_iter()
                    .filter(|d| d.status == "stopped")
                    .filter_map(|d| {
                        let b = d.billing;
                        Some(Biller {
                            what: format!("storage of stopped {} ({} GB)", d.id, b.storage_gb?),
                            key: PriceKey::DbStorage {
                                storage_type: b.storage_type.unwrap_or_else(|| "gp2".into()),
                                engine: b.engine,
                                multi_az: b.multi_az,
                                region: region.clone(),
                            },
                            quantity: Decimal::from(b.storage_gb?),
                        })
                    }),
            ),
            Err(e) => errors.push(e.to_string()),
        }
        (out, (!errors.is_empty()).then(|| errors.join("; ")))
    }
}

/// The prices a run needs: cached a week in the memory table; a stale one is read again, and
/// used (said so) when the Price List API cannot be reached; a missing one is "price unknown".
pub struct PriceBook {
    pub prices: BTreeMap<String, Price>,
    pub notes: Vec<String>,
}

pub async fn price_book(deps: &Deps, keys: BTreeSet<PriceKey>, now: DateTime<Utc>) -> PriceBook {
    let mut notes = Vec::new();
    let mut cached = match &deps.state {
        Some(state) => state.load_prices().await.unwrap_or_else(|e| {
            notes.push(format!("the price cache could not be read: {e}"));
            BTreeMap::new()
        }),
        None => BTreeMap::new(),
    };
    let wanted: Vec<PriceKey> = keys
        .into_iter()
        .filter(|k| prices::freshness(cached.get(&k.id()), now) != Freshness::Fresh)
        .collect();
    if wanted.is_empty() {
        return PriceBook {
            prices: cached,
            notes,
        };
    }
    let client = &deps.pricing;
    let answers: Vec<(PriceKey, Result<Price, PriceError>)> = futures::stream::iter(wanted)
        .map(|k| async move {
            let r = billing::get_price(client, &k, now).await;
            (k, r)
        })
        .buffered(4)
        .collect()
        .await;
    let mut changed = false;
    for (key, answer) in answers {
        match (answer, cached.get(&key.id())) {
            (Ok(p), _) => {
                cached.insert(key.id(), p);
                changed = true;
            }
            (Err(PriceError::Unreachable(e)), Some(old)) => notes.push(format!(
                "{}: the Price List API could not be reached ({}); the price read {} is used",
                key.label(),
                caretaker_shared::error::cap(&e, 200),
                old.fetched.format("%Y-%m-%d")
            )),
            (Err(PriceError::Unreachable(e) | PriceError::NoAnswer(e)), _) => notes.push(format!(
                "{}: price unknown ({})",
                key.label(),
                caretaker_shared::error::cap(&e, 200)
            )),
        }
    }
    if changed
        && let Some(state) = &deps.state
        && let Err(e) = state.save_prices(&cached).await
    {
        notes.push(format!("the price cache could not be written: {e}"));
    }
    PriceBook {
        prices: cached,
        notes,
    }
}
