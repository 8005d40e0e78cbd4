//! What workloads need before they come up. A namespace (or one workload) declares it with the
//! annotation `caretaker/needs`, e.g. `rds:innovate-dev-db, nodegroup:innovate-dev/addons`: in a
//! run that brings things up (databases → node groups → workloads), such workloads are scaled up
//! only once each is ready — a database `available`, a node group `ACTIVE` with nodes — and
//! otherwise wait for a later run, the report saying for what. Pure: the layers before fill in
//! what they found (and what they just started, which is not ready yet).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// The annotation a namespace or workload declares what it needs with.
pub const ANN_NEEDS: &str = "caretaker/needs";

/// The state of each database and node group of the account after this run's earlier layers.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    states: BTreeMap<String, (bool, String)>,
}

impl Readiness {
    /// A database (instance or Aurora cluster), as it stands after this run acted on it.
    pub fn database(&mut self, id: &str, status: &str) {
        self.states.insert(
            format!("rds:{id}"),
            (status == "available", status.to_owned()),
        );
    }

    /// A node group (`cluster/name`), with its status and desired size after this run.
    pub fn nodegroup(&mut self, id: &str, status: &str, desired: i32) {
        let ready = status == "ACTIVE" && desired > 0;
        let text = if status == "ACTIVE" && desired == 0 {
            "ACTIVE with no nodes".to_owned()
        } else {
            status.to_owned()
        };
        self.states.insert(format!("nodegroup:{id}"), (ready, text));
    }

    /// What of `needs` is not ready, in words ("rds:innovate-dev-db (starting)"), or `None` when
    /// everything is. A need that names nothing known, or is not of the form `rds:<id>` or
    /// `nodegroup:<cluster>/<name>`, is never ready: the workload waits and the report says why.
    pub fn waiting_for(&self, needs: &str) -> Option<String> {
        let mut waiting = Vec::new();
        for need in needs.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let shown = caretaker_shared::error::cap(need, 80);
            let (kind, id) = need.split_once(':').unwrap_or(("", need));
            if !matches!(kind, "rds" | "nodegroup") || id.is_empty() {
                waiting.push(format!(
                    "{shown} (not understood: expected rds:<id> or nodegroup:<cluster>/<name>)"
                ));
                continue;
            }
            match self.states.get(need) {
                Some((true, _)) => {}
                Some((false, state)) => waiting.push(format!("{shown} ({state})")),
                None => waiting.push(format!("{shown} (not found in this account)")),
            }
        }
        (!waiting.is_empty()).then(|| waiting.join(", "))
    }
}

impl Readiness {
    /// What a run that brings things up found of each resource it decided up (the report's
    /// entries of one account, from `desired`, the outcome and the states above).
    pub fn progress(&self, entries: &[caretaker_shared::report::ResourceResult]) -> Progress {
        use caretaker_shared::report::Outcome;
        let mut p = Progress {
            databases_ready: true,
            nodes_ready: true,
            workloads_ready: true,
            ..Progress::default()
        };
        for r in entries {
            if r.details.get("desired").and_then(|v| v.as_str()) != Some("up") {
                continue;
            }
            let just_started = matches!(r.outcome, Outcome::Changed { .. });
            p.brought_up |= just_started;
            let state = |key: String| match self.states.get(&key) {
                Some((true, _)) => None,
                Some((false, s)) => Some(format!("{key} {s}")),
                None => Some(format!("{key} not found")),
            };
            let late = |w: String, p: &mut Progress| {
                if !just_started {
                    p.not_ready.push(w);
                }
            };
            match r.kind.as_str() {
                "rds-instance" | "rds-cluster" => {
                    if let Some(w) = state(format!("rds:{}", r.id)) {
                        p.databases_ready = false;
                        late(w, &mut p);
                    }
                }
                "eks-nodegroup" => {
                    if let Some(w) = state(format!("nodegroup:{}", r.id)) {
                        p.nodes_ready = false;
                        late(w, &mut p);
                    }
                }
                kind if kind.starts_with("k8s-") => {
                    p.workloads += 1;
                    match &r.outcome {
                        Outcome::Skipped { .. } => p.workloads_ready = false,
                        Outcome::Failed { error } => {
                            p.workloads_ready = false;
                            p.not_ready.push(format!("{} {}: {error}", r.kind, r.id));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        p
    }
}

/// How long after a schedule's start everything brought up must be ready before a critical
/// notice names what is not (an RDS start takes minutes; one stuck in `starting`, or a start
/// AWS accepted that did not happen, must not go unnoticed).
pub const READY_DEADLINE: chrono::TimeDelta = chrono::TimeDelta::minutes(20);

/// One account's morning, remembered between runs: when its first start was made, when each
/// layer was first seen ready, and whether it was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Morning {
    pub began: DateTime<Utc>,
    pub databases: Option<DateTime<Utc>>,
    pub nodes: Option<DateTime<Utc>>,
    pub workloads: Option<DateTime<Utc>>,
    pub said: bool,
}

/// What a morning-order run found of everything it brings up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// It started or scaled something up (a morning begins).
    pub brought_up: bool,
    /// Everything decided up of each layer is ready (a layer with nothing decided up is).
    pub databases_ready: bool,
    pub nodes_ready: bool,
    pub workloads_ready: bool,
    /// Workloads decided up.
    pub workloads: usize,
    /// What is not ready although this run did not just start it, and why ("rds:innovate-dev-db
    /// starting"): a start made earlier that has not happened, or a workload that failed. (One
    /// just started, or a workload waiting for one, is on its way; its own run says.)
    pub not_ready: Vec<String>,
}

/// What to tell of a morning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MorningNews {
    Ready {
        at: DateTime<Utc>,
        databases: DateTime<Utc>,
        nodes: DateTime<Utc>,
        workloads: usize,
    },
    Late {
        deadline: DateTime<Utc>,
        not_ready: Vec<String>,
    },
}

/// The morning after this run, and what to say: "ready" once everything is, or, past the
/// schedule's start (`began + lead`) plus [`READY_DEADLINE`], what is not. Said once a morning.
/// A run that only takes things down ends the morning.
pub fn morning_after(
    prev: Option<&Morning>,
    now: DateTime<Utc>,
    lead: chrono::TimeDelta,
    morning_order: bool,
    p: &Progress,
) -> (Option<Morning>, Option<MorningNews>) {
    if !morning_order {
        return (None, None);
    }
    let mut m = match prev {
        Some(m) => m.clone(),
        None if p.brought_up => Morning {
            began: now,
            databases: None,
            nodes: None,
            workloads: None,
            said: false,
        },
        None => return (None, None),
    };
    if m.said {
        return (Some(m), None);
    }
    m.databases = m.databases.or(p.databases_ready.then_some(now));
    m.nodes = m.nodes.or(p.nodes_ready.then_some(now));
    // Workloads come up at the schedule's start, after the rest: not counted before it.
    let started = now >= m.began + lead && m.databases.is_some() && m.nodes.is_some();
    m.workloads = m
        .workloads
        .or((started && p.workloads_ready).then_some(now));
    if let (Some(databases), Some(nodes), Some(at)) = (m.databases, m.nodes, m.workloads) {
        m.said = true;
        let news = MorningNews::Ready {
            at,
            databases,
            nodes,
            workloads: p.workloads,
        };
        return (Some(m), Some(news));
    }
    let deadline = m.began + lead + READY_DEADLINE;
    if now >= deadline && !p.not_ready.is_empty() {
        m.said = true;
        let news = MorningNews::Late {
            deadline,
            not_ready: p.not_ready.clone(),
        };
        return (Some(m), Some(news));
    }
    (Some(m), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_wait_for_a_starting_database_and_an_empty_node_group() {
        let mut r = Readiness::default();
        r.database("innovate-dev-db", "starting");
        r.nodegroup("innovate-dev/addons", "ACTIVE", 0);
        assert_eq!(
            r.waiting_for("rds:innovate-dev-db, nodegroup:innovate-dev/addons")
                .as_deref(),
            Some(
                "rds:innovate-dev-db (starting), nodegroup:innovate-dev/addons (ACTIVE with no nodes)"
            )
        );
        r.database("innovate-dev-db", "available");
        r.nodegroup("innovate-dev/addons", "ACTIVE", 2);
        assert_eq!(
            r.waiting_for("rds:innovate-dev-db,nodegroup:innovate-dev/addons"),
            None
        );
    }

    #[test]
    fn an_unknown_or_malformed_need_is_never_ready_and_says_why() {
        let r = Readiness::default();
        assert_eq!(
            r.waiting_for("rds:gone").as_deref(),
            Some("rds:gone (not found in this account)")
        );
        let w = r.waiting_for("postgres").unwrap();
        assert!(w.contains("not understood"), "{w}");
        assert_eq!(r.waiting_for(" , "), None);
    }

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    #[test]
    fn a_morning_is_said_ready_once_with_when_each_layer_was() {
        let lead = chrono::TimeDelta::minutes(15);
        let warming = Progress {
            brought_up: true,
            databases_ready: false,
            nodes_ready: false,
            workloads_ready: true,
            workloads: 0,
            not_ready: vec!["rds:db starting".into()],
        };
        let (m, news) = morning_after(None, at("2026-12-02T11:45:00Z"), lead, true, &warming);
        assert_eq!(news, None);
        let ready = Progress {
            brought_up: true,
            databases_ready: true,
            nodes_ready: true,
            workloads_ready: true,
            workloads: 4,
            not_ready: vec![],
        };
        let (m, news) = morning_after(m.as_ref(), at("2026-12-02T12:00:00Z"), lead, true, &ready);
        assert_eq!(
            news,
            Some(MorningNews::Ready {
                at: at("2026-12-02T12:00:00Z"),
                databases: at("2026-12-02T12:00:00Z"),
                nodes: at("2026-12-02T12:00:00Z"),
                workloads: 4
            })
        );
        // Said once; the night ends the morning.
        let (m, news) = morning_after(m.as_ref(), at("2026-12-02T12:15:00Z"), lead, true, &ready);
        assert_eq!(news, None);
        assert!(m.is_some());
        assert_eq!(
            morning_after(m.as_ref(), at("2026-12-03T01:00:00Z"), lead, false, &ready),
            (None, None)
        );
        // A quiet day run without a morning says nothing.
        let quiet = Progress {
            brought_up: false,
            ..ready
        };
        assert_eq!(
            morning_after(None, at("2026-12-02T15:00:00Z"), lead, true, &quiet),
            (None, None)
        );
    }

    #[test]
    fn a_database_still_starting_twenty_minutes_after_the_start_is_said_critical_once() {
        let lead = chrono::TimeDelta::minutes(15);
        let stuck = Progress {
            brought_up: true,
            databases_ready: false,
            nodes_ready: true,
            workloads_ready: false,
            workloads: 4,
            not_ready: vec!["rds:innovate-dev-db starting".into()],
        };
        let (m, _) = morning_after(None, at("2026-12-02T11:45:00Z"), lead, true, &stuck);
        let (m, news) = morning_after(m.as_ref(), at("2026-12-02T12:15:00Z"), lead, true, &stuck);
        assert_eq!(news, None, "07:15 is before 07:00 + 20 min");
        let (m, news) = morning_after(m.as_ref(), at("2026-12-02T12:30:00Z"), lead, true, &stuck);
        assert_eq!(
            news,
            Some(MorningNews::Late {
                deadline: at("2026-12-02T12:20:00Z"),
                not_ready: vec!["rds:innovate-dev-db starting".into()]
            })
        );
        let (_, news) = morning_after(m.as_ref(), at("2026-12-02T12:45:00Z"), lead, true, &stuck);
        assert_eq!(news, None);
    }
}
