//! The database layer: RDS instances and Aurora clusters, one code path.

use caretaker_shared::report::{Outcome, RunReport};
use futures::StreamExt;
use tracing::info;

use super::Layer;
use crate::domain::{self, Database, DbStep};
use crate::rds;

impl Layer<'_> {
    /// RDS instances, then Aurora clusters: one code path, `AWS_CONCURRENCY` calls at a time.
    pub(super) async fn databases(&self, report: &mut RunReport) {
        for listed in [
            rds::instances(&self.rds).await,
            rds::clusters(&self.rds).await,
        ] {
            let dbs = match listed {
                Ok(d) => d,
                Err(e) => {
                    report.record("rds", self.account(), Outcome::failed(e.to_string()));
                    continue;
                }
            };
            let outcomes: Vec<(Option<bool>, Outcome)> = futures::stream::iter(dbs.iter())
                .map(|db| self.database(db))
                .buffered(self.deps.config.aws_concurrency)
                .collect()
                .await;
            for (db, (up, outcome)) in dbs.iter().zip(outcomes) {
                self.record_database(db, up, outcome, report);
            }
        }
    }

    /// `(desired up?, outcome)`; `None` when the resource was not decided (not opted in,
    /// refused, a malformed tag).
    async fn database(&self, db: &Database) -> (Option<bool>, Outcome) {
        let up = match self.decider.decide(&db.tags) {
            Ok(up) => up,
            Err(outcome) => return (None, outcome),
        };
        let outcome = match domain::db_step(up, &db.status, db.ineligible) {
            DbStep::Nothing => Outcome::Unchanged,
            DbStep::Skip(why) => Outcome::skipped(why),
            DbStep::Stop if self.dry_run => Outcome::changed("stop"),
            DbStep::Start if self.dry_run => Outcome::changed("start"),
            DbStep::Stop => rds::set_running(&self.rds, db, false).await,
            DbStep::Start => rds::set_running(&self.rds, db, true).await,
        };
        (Some(up), outcome)
    }

    /// Instances and clusters alike: status, desired state and drift.
    fn record_database(
        &self,
        db: &Database,
        up: Option<bool>,
        outcome: Outcome,
        report: &mut RunReport,
    ) {
        let drift = self.decider.is_drift(&outcome);
        let r = report
            .record(db.kind.report_kind(), &db.id, outcome)
            .in_account(self.account());
        let Some(up) = up else { return };
        if let Some(why) = self.decider.why(&db.tags) {
            r.detail("why", why);
        }
        r.detail("status", &db.status)
            .detail("desired", if up { "up" } else { "down" });
        if drift {
            info!(kind = db.kind.report_kind(), id = %db.id, status = %db.status,
                "drift corrected (e.g. RDS's automatic start after 7 days stopped)");
            r.detail("drift", true);
        }
    }
}
