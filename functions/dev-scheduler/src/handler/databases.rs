//! The database layer: RDS instances and Aurora clusters, one code path.

use caretaker_shared::report::{Outcome, RunReport};
use futures::StreamExt;
use tracing::info;

use super::Layer;
use crate::domain::{self, Class, Database, DbStep, Decision};
use crate::rds;
use crate::ready::Readiness;

impl Layer<'_> {
    /// RDS instances, then Aurora clusters (both listed at once): one code path,
    /// `AWS_CONCURRENCY` calls at a time.
    /// Each one's state after the run goes into `ready` (a database just started is `starting`).
    pub(super) async fn databases(&self, report: &mut RunReport, ready: &mut Readiness) {
        let (instances, clusters) =
            futures::join!(rds::instances(&self.rds), rds::clusters(&self.rds));
        // An Aurora cluster bills its member instances: their classes come from the instances.
        let classes: std::collections::HashMap<String, String> = instances
            .iter()
            .flatten()
            .filter_map(|i| Some((i.id.clone(), i.billing.class.clone()?)))
            .collect();
        let region = self.region();
        for listed in [instances, clusters] {
            let dbs = match listed {
                Ok(d) => d,
                Err(e) => {
                    report.record("rds", self.account(), Outcome::failed(e.to_string()));
                    continue;
                }
            };
            let outcomes: Vec<Done> = futures::stream::iter(dbs.iter())
                .map(|db| self.database(db))
                .buffered(self.deps.config.aws_concurrency)
                .collect()
                .await;
            for (db, done) in dbs.iter().zip(outcomes) {
                let after = match &done.outcome {
                    Outcome::Changed { action } if action.starts_with("start") => "starting",
                    Outcome::Changed { action } if action.starts_with("stop") => "stopping",
                    _ => db.status.as_str(),
                };
                ready.database(&db.id, after);
                let sizing = crate::ledger::db_sizing(db, &region, &classes);
                self.record_database(db, done, sizing, report);
            }
        }
    }

    /// Decided, acted on and classified; for drift, the cause RDS gives.
    async fn database(&self, db: &Database) -> Done {
        let d = match self.decider.decide(&db.tags) {
            Ok(d) => d,
            Err(outcome) => {
                return Done {
                    decision: None,
                    outcome,
                    class: Class::Routine,
                    cause: None,
                };
            }
        };
        let outcome = match domain::db_step(d.up, &db.status, db.ineligible) {
            DbStep::Nothing => Outcome::Unchanged,
            DbStep::Skip(why) => Outcome::skipped(why),
            DbStep::Stop if self.dry_run => Outcome::changed("stop"),
            DbStep::Start if self.dry_run => Outcome::changed("start"),
            DbStep::Stop => rds::set_running(&self.rds, db, false).await,
            DbStep::Start => rds::set_running(&self.rds, db, true).await,
        };
        let key = format!("{}/{}", db.kind.report_kind(), db.id);
        let class = self.decider.classify(&key, &d, &outcome);
        let cause = match class {
            Class::Drift => Some(rds::drift_cause(&self.rds, db, self.decider.now).await),
            _ => None,
        };
        Done {
            decision: Some(d),
            outcome,
            class,
            cause,
        }
    }

    /// Instances and clusters alike: status, desired state, why, and drift with its cause.
    fn record_database(
        &self,
        db: &Database,
        done: Done,
        sizing: Option<crate::ledger::Sizing>,
        report: &mut RunReport,
    ) {
        let changed = matches!(done.outcome, Outcome::Changed { .. });
        let r = report
            .record(db.kind.report_kind(), &db.id, done.outcome)
            .in_account(self.account());
        // What it bills an hour while up: the savings ledger prices the hours down by it.
        if changed && let Some(s) = sizing {
            r.detail("sizing", s);
        }
        let Some(d) = done.decision else { return };
        r.detail("why", d.why)
            .detail("status", &db.status)
            .detail("desired", if d.up { "up" } else { "down" });
        match done.class {
            Class::Drift => {
                let cause = done.cause.unwrap_or_default();
                info!(kind = db.kind.report_kind(), id = %db.id, status = %db.status,
                    cause = %cause, "drift corrected");
                r.detail("drift", true).detail("cause", cause);
            }
            Class::Pending => {
                r.detail("pending", true);
            }
            Class::Routine => {}
        }
    }
}

/// One database's result.
struct Done {
    /// `None` when the resource was not decided (not opted in, refused, a malformed tag).
    decision: Option<Decision>,
    outcome: Outcome,
    class: Class,
    cause: Option<String>,
}
