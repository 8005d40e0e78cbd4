//! What workloads need before they come up. A namespace (or one workload) declares it with the
//! annotation `caretaker/needs`, e.g. `rds:innovate-dev-db, nodegroup:innovate-dev/addons`: in a
//! run that brings things up (databases → node groups → workloads), such workloads are scaled up
//! only once each is ready — a database `available`, a node group `ACTIVE` with nodes — and
//! otherwise wait for a later run, the report saying for what. Pure: the layers before fill in
//! what they found (and what they just started, which is not ready yet).

use std::collections::BTreeMap;

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
}
