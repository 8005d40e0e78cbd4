//! Orchestration: payload → request → per account, each layer read → decided → acted on →
//! recorded, in order (night: workloads → node groups → databases; morning: databases → node
//! groups → workloads) → report → notification.
//!
//! Safe to run twice: every step compares the desired state with the actual one, so a second
//! run over an unchanged world makes no mutating call; remembered node group sizes and replica
//! counts are written only from a non-zero size, so a second shutdown cannot overwrite them with zero.

use caretaker_shared::incoming::Incoming;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::Invocation;
use caretaker_shared::{Guard, error::chain};
use chrono::Utc;
use lambda_runtime::LambdaEvent;
use tracing::warn;

use crate::domain::{Action, Decider, Hold, Memory};
use crate::eks::{self, Cluster};
use crate::error::SchedulerError;
use crate::event::{self, Request};
use crate::{Deps, FUNCTION, kubernetes, messages};

mod databases;
mod nodegroups;

pub async fn handle(
    event: LambdaEvent<Incoming>,
    deps: &Deps,
) -> Result<RunReport, SchedulerError> {
    Invocation::for_event(FUNCTION, &event)
        .run(async {
            let req = event::parse(event.payload.into_value()?)?;
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
        // The memory is read even for a dry run (it decides holds and drift) but written only
        // after a real one, and never over a memory that could not be read.
        let memory = match &deps.state {
            None => Ok(Memory::default()),
            Some(state) => state.load(&account).await,
        };
        let readable = memory.is_ok();
        let memory = memory.unwrap_or_else(|e| {
            report.record(
                "scheduler-state",
                &account,
                Outcome::failed(format!(
                    "memory unreadable, run without it (drift may read as routine): {e}"
                )),
            );
            Memory::default()
        });
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
                last_run: match &deps.state {
                    Some(_) => memory.last_run,
                    None => Some(now - deps.config.interval),
                },
                memory,
                seen: Default::default(),
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
        if !dry_run && readable {
            layer.remember(req.action, r).await;
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

    /// Writes the account's memory when the run has news: a forced action's hold, a change, a
    /// transition seen, pending changes. A failed write is reported; the run stands.
    async fn remember(&self, action: Action, report: &mut RunReport) {
        let hold = match action {
            Action::Shutdown => Some(Hold {
                up: false,
                at: self.decider.now,
            }),
            Action::Startup => Some(Hold {
                up: true,
                at: self.decider.now,
            }),
            Action::Reconcile | Action::Status => None,
        };
        let Some(memory) = self.decider.memory_after(hold) else {
            return;
        };
        let Some(state) = &self.deps.state else {
            if hold.is_some() {
                warn!(
                    account = self.account(),
                    "no STATE_TABLE: the forced {} holds only until the next periodic run",
                    action.as_str()
                );
            }
            return;
        };
        if let Err(e) = state.save(self.account(), &memory).await {
            report.record(
                "scheduler-state",
                self.account(),
                Outcome::failed(format!(
                    "memory not written (the next run may report routine changes as drift): {e}"
                )),
            );
        }
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
}
