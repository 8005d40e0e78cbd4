//! What a run remembers of an account between runs, and what it says of its failures: each
//! failure said once (`caretaker_shared::once`), the morning, holds; written to the account
//! memory (`state`) only when there is news.

use std::collections::{BTreeMap, BTreeSet};

use caretaker_shared::once::{self, Failing, Said};
use caretaker_shared::report::{Outcome, RunReport};
use chrono::{DateTime, Utc};
use tracing::warn;

use super::Layer;
use crate::Deps;
use crate::domain::{Action, Hold, Memory};
use crate::ready::Morning;

impl Layer<'_> {
    /// Writes the account's memory when the run has news: a forced action's hold, a change, a
    /// transition seen, pending changes, failures said or cleared. A failed write is reported;
    /// the run stands.
    pub(super) async fn remember(
        &self,
        action: Action,
        said: &Said,
        morning: Option<Morning>,
        report: &mut RunReport,
    ) {
        let hold = match action {
            Action::Shutdown => Some(Hold {
                up: false,
                at: self.decider.now,
            }),
            Action::Startup => Some(Hold {
                up: true,
                at: self.decider.now,
            }),
            Action::Reconcile | Action::Status | Action::Accounts | Action::Summarize => None,
        };
        let memory = match self.decider.memory_after(hold) {
            Some(m) => m,
            None if said.changed(&self.decider.memory.failures)
                || morning != self.decider.memory.morning =>
            {
                self.decider.memory.clone()
            }
            None => return,
        };
        let memory = Memory {
            failures: said.memory.clone(),
            morning,
            ..memory
        };
        if self.deps.state.is_none() && hold.is_some() {
            warn!(
                account = self.account(),
                "no STATE_TABLE: the forced {} holds only until the next periodic run",
                action.as_str()
            );
        }
        save(self.deps, self.account(), &memory, report).await;
    }
}

/// Which of this account's failures (the report's entries from `first` on) to say: each is
/// marked `told` first, again or quiet, and the remembered ones whose resource worked clear.
pub(super) fn say_once(
    report: &mut RunReport,
    first: usize,
    account: &str,
    reached: bool,
    now: DateTime<Utc>,
    remembered: &BTreeMap<String, Failing>,
) -> Said {
    let key = |kind: &str, id: &str| format!("{kind} {id}");
    let mut current = BTreeMap::new();
    let mut seen = BTreeSet::new();
    if reached {
        seen.insert(key("account", account));
    }
    for r in &report.resources[first..] {
        match &r.outcome {
            Outcome::Failed { error } => {
                current.insert(key(&r.kind, &r.id), once::cause_of(error));
            }
            _ => {
                seen.insert(key(&r.kind, &r.id));
            }
        }
    }
    let said = once::decide(now, &current, &seen, remembered);
    for r in &mut report.resources[first..] {
        let k = key(&r.kind, &r.id);
        if let (Some(tell), Some(f)) = (said.tell.get(&k), said.memory.get(&k)) {
            r.details.insert("told".into(), tell.as_str().into());
            r.details
                .insert("failingSince".into(), f.since.to_rfc3339().into());
        }
    }
    said
}

pub(super) async fn save(deps: &Deps, account: &str, memory: &Memory, report: &mut RunReport) {
    let Some(state) = &deps.state else {
        return;
    };
    if let Err(e) = state.save(account, memory).await {
        report.record(
            "scheduler-state",
            account,
            Outcome::failed(format!(
                "memory not written (the next run may report routine changes as drift): {e}"
            )),
        );
    }
}
