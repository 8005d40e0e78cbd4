//! Orchestration: payload → request → per account, each layer read → decided → acted on →
//! recorded, in order (night: workloads → node groups → databases; morning: databases → node
//! groups → workloads) → report → notification.
//!
//! Safe to run twice: every step compares the desired state with the actual one, so a second
//! run over an unchanged world makes no mutating call; remembered node group sizes and replica
//! counts are written only from a non-zero size, so a second shutdown cannot overwrite them with zero.

use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::{self, Invocation};
use caretaker_shared::{Guard, error::chain};
use chrono::Utc;
use futures::StreamExt;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::info;

use crate::domain::{self, Action, Database, DbStep, Decider, NgStep, Sizes};
use crate::eks::{self, Cluster};
use crate::error::SchedulerError;
use crate::event::{self, Request};
use crate::{Deps, FUNCTION, kubernetes, messages, rds};

pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<RunReport, SchedulerError> {
    let invocation = Invocation::new(
        FUNCTION,
        &event.context,
        telemetry::event_id(&event.payload),
    );
    invocation
        .run(async {
            let req = event::parse(event.payload)?;
            let report = run(deps, &req).await;
            if let Some(n) = messages::notification(&report, req.account.as_deref()) {
                deps.notifiers.send(&n).await;
            }
            Ok(report)
        })
        .await
}

fn guard(deps: &Deps) -> Guard {
    Guard::new(&deps.config.common, Some(deps.accounts.home_account()))
}

pub async fn run(deps: &Deps, req: &Request) -> RunReport {
    let now = req.at.unwrap_or_else(Utc::now);
    let dry_run = req.dry_run || deps.config.common.dry_run || req.action == Action::Status;
    let mut report = RunReport::new(FUNCTION, req.action.as_str(), dry_run);
    let accounts: Vec<String> = match &req.account {
        Some(a) => vec![a.clone()],
        None if deps.config.common.allowed_accounts.is_empty() => {
            vec![deps.accounts.home_account().to_owned()]
        }
        None => deps
            .config
            .common
            .allowed_accounts
            .iter()
            .cloned()
            .collect(),
    };
    for account in accounts {
        if let Err(refusal) = guard(deps).check_account(&account) {
            report.record(
                "account",
                &account,
                Outcome::skipped(format!("refused: {refusal}")),
            );
            continue;
        }
        let cfg = match deps.accounts.config_for(&account).await {
            Ok(c) => c,
            Err(e) => {
                report.record("account", &account, Outcome::failed(chain(&e)));
                continue;
            }
        };
        let layer = Layer {
            deps,
            cfg: &cfg,
            rds: aws_sdk_rds::Client::new(&cfg),
            eks: aws_sdk_eks::Client::new(&cfg),
            decider: Decider {
                policy: deps.config.policy.clone(),
                guard: guard(deps),
                account: account.clone(),
                action: req.action,
                now,
            },
            dry_run,
        };
        let clusters = layer.clusters(&mut report).await;
        let r = &mut report;
        if req.action == Action::Startup {
            layer.databases(r).await;
            layer.nodegroups(&clusters, r).await;
            layer.kubernetes(&clusters, r).await;
        } else {
            layer.kubernetes(&clusters, r).await;
            layer.nodegroups(&clusters, r).await;
            layer.databases(r).await;
        }
    }
    report.finish()
}

/// One account's run: its clients, its decider, and how many calls may be in flight.
struct Layer<'a> {
    deps: &'a Deps,
    cfg: &'a aws_config::SdkConfig,
    rds: aws_sdk_rds::Client,
    eks: aws_sdk_eks::Client,
    decider: Decider,
    dry_run: bool,
}

impl Layer<'_> {
    fn account(&self) -> &str {
        &self.decider.account
    }

    /// The account's EKS clusters, described once for node groups and workloads.
    async fn clusters(&self, report: &mut RunReport) -> Vec<Cluster> {
        let listed = match eks::clusters(&self.eks).await {
            Ok(l) => l,
            Err(e) => {
                report.record("eks", self.account(), Outcome::failed(e.to_string()));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for c in listed {
            match c {
                Ok(c) => out.push(c),
                Err((name, e)) => {
                    report
                        .record("eks-cluster", &name, Outcome::failed(e.to_string()))
                        .in_account(self.account());
                }
            }
        }
        out
    }

    /// Kubernetes workloads of each cluster the guard allows, opted in by annotation only.
    async fn kubernetes(&self, clusters: &[Cluster], report: &mut RunReport) {
        let decider = self.decider.without_default();
        for cluster in clusters {
            // Never call a production cluster's API, whatever its namespaces say.
            if let Err(r) = decider.guard.check(self.account(), &cluster.tags) {
                report
                    .record(
                        "eks-cluster",
                        &cluster.name,
                        Outcome::skipped(format!("workloads not touched, refused: {r}")),
                    )
                    .in_account(self.account());
                continue;
            }
            let settings = &self.deps.config.kube;
            let walked =
                kubernetes::walk(cluster, self.cfg, settings, &decider, self.dry_run, report).await;
            if let Err(e) = walked {
                report
                    .record(
                        "eks-cluster",
                        &cluster.name,
                        Outcome::failed(format!("Kubernetes API: {e}")),
                    )
                    .in_account(self.account());
            }
        }
    }

    /// RDS instances, then Aurora clusters: one code path, `AWS_CONCURRENCY` calls at a time.
    async fn databases(&self, report: &mut RunReport) {
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
        r.detail("status", &db.status)
            .detail("desired", if up { "up" } else { "down" });
        if drift {
            info!(kind = db.kind.report_kind(), id = %db.id, status = %db.status,
                "drift corrected (e.g. RDS's automatic start after 7 days stopped)");
            r.detail("drift", true);
        }
    }

    /// Managed node groups of every cluster, `AWS_CONCURRENCY` at a time.
    async fn nodegroups(&self, clusters: &[Cluster], report: &mut RunReport) {
        for cluster in clusters {
            let listed = match eks::nodegroups(&self.eks, cluster).await {
                Ok(l) => l,
                Err(e) => {
                    report
                        .record("eks-cluster", &cluster.name, Outcome::failed(e.to_string()))
                        .in_account(self.account());
                    continue;
                }
            };
            let outcomes: Vec<(String, Outcome, Option<Sizes>)> = futures::stream::iter(listed)
                .map(|ng| async move {
                    match ng {
                        Err((id, e)) => (id, Outcome::failed(e.to_string()), None),
                        Ok(ng) => (ng.id(), self.nodegroup(cluster, &ng).await, Some(ng.sizes)),
                    }
                })
                .buffered(self.deps.config.aws_concurrency)
                .collect()
                .await;
            for (id, outcome, sizes) in outcomes {
                let r = report
                    .record("eks-nodegroup", &id, outcome)
                    .in_account(self.account());
                if let Some(s) = sizes {
                    r.detail("size", s.encode());
                }
            }
        }
    }

    async fn nodegroup(&self, cluster: &Cluster, ng: &domain::NodeGroup) -> Outcome {
        let up = match self.decider.decide(&ng.tags) {
            Ok(up) => up,
            Err(outcome) => return outcome,
        };
        let current = ng.sizes;
        let remembered = cluster
            .tags
            .get(&ng.size_tag())
            .and_then(|s| Sizes::decode(s));
        match domain::ng_step(up, current, remembered, &ng.status) {
            NgStep::Nothing => Outcome::Unchanged,
            NgStep::Skip(why) => Outcome::skipped(why),
            NgStep::ScaleDown { .. } if self.dry_run => {
                Outcome::changed(format!("scale to 0 (remember {})", current.encode()))
            }
            NgStep::ScaleUp(s) if self.dry_run => {
                Outcome::changed(format!("scale back to {}", s.encode()))
            }
            NgStep::ScaleDown { remember, max } => {
                // Remember first: if the update then fails, the size is still known.
                if let Some(s) = remember
                    && remembered != Some(s)
                    && let Err(e) = eks::remember_size(&self.eks, cluster, ng, s).await
                {
                    return Outcome::failed(format!("could not remember the size: {e}"));
                }
                let zero = Sizes {
                    min: 0,
                    desired: 0,
                    max,
                };
                match eks::scale(&self.eks, ng, zero).await {
                    Ok(()) => {
                        Outcome::changed(format!("scaled to 0 (remembered {})", current.encode()))
                    }
                    Err(e) => Outcome::failed(e.to_string()),
                }
            }
            NgStep::ScaleUp(s) => match eks::scale(&self.eks, ng, s).await {
                Ok(()) => Outcome::changed(format!("scaled back to {}", s.encode())),
                Err(e) => Outcome::failed(e.to_string()),
            },
        }
    }
}
