//! Orchestration: payload → request → per account, each layer read → decided → acted on →
//! recorded, in order (a run that brings anything up, scheduled or by hand: databases → node
//! groups → workloads, each workload waiting for what it needs; otherwise workloads → node
//! groups → databases) → report → notification.
//!
//! Safe to run twice: every step compares the desired state with the actual one, so a second
//! run over an unchanged world makes no mutating call; remembered node group sizes and replica
//! counts are written only from a non-zero size, so a second shutdown cannot overwrite them with zero.

use caretaker_shared::incoming::Incoming;
use caretaker_shared::once::Cleared;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::Invocation;
use chrono::Utc;
use futures::StreamExt;
use lambda_runtime::LambdaEvent;

use crate::domain::{Action, Decider};
use crate::eks::{self, Cluster};
use crate::error::SchedulerError;
use crate::event::{self, Request};
use crate::ready::{MorningNews, Readiness};
use crate::{Deps, FUNCTION, kubernetes, messages};

mod account;
mod databases;
mod fan_out;
mod memory;
mod nodegroups;
mod organization;
pub mod savings;

pub async fn handle(
    event: LambdaEvent<Incoming>,
    deps: &Deps,
) -> Result<RunReport, SchedulerError> {
    Invocation::for_event(FUNCTION, &event)
        .run(async {
            let req = event::parse(event.payload.into_value()?)?;
            match req.action {
                Action::Accounts => return Ok(fan_out::accounts(deps, &req).await),
                Action::Summarize => return Ok(fan_out::summarize(deps, &req).await),
                _ => {}
            }
            let (mut report, told) = run_and_remember(deps, &req).await;
            // The shutdown budget-guard asked for is told as such; any other run by account is not.
            let budget_account = req.budget_reason.as_ref().and(req.account.as_deref());
            // Inside the fan-out, an account's failures are told once for all accounts by
            // `summarize`; what cleared is told here, with the account's report.
            if (!req.fan_out || !told.cleared.is_empty())
                && let Some(n) = messages::notification(&report, budget_account, &told.cleared)
            {
                deps.notifiers.send(&n).await;
            }
            if req.fan_out {
                crate::report_size::compact(&mut report);
            }
            for account in &told.joined {
                deps.notifiers
                    .send(&messages::joined(account, &deps.config.org.ous))
                    .await;
            }
            let zone = deps.config.policy.zone();
            for (account, news) in &told.mornings {
                deps.notifiers
                    .send(&messages::morning(account, news, zone))
                    .await;
            }
            Ok(report)
        })
        .await
}

/// The run's report (what `handle` returns).
pub async fn run(deps: &Deps, req: &Request) -> RunReport {
    run_and_remember(deps, req).await.0
}

/// What a run has to tell beyond its report: failures remembered from earlier runs that this
/// one found cleared, and each account's morning (ready, or late).
#[derive(Debug, Default)]
pub struct Told {
    pub cleared: Vec<Cleared>,
    pub mornings: Vec<(String, MorningNews)>,
    /// Accounts found in an OU with no spoke role to assume yet, said once each.
    pub joined: Vec<String>,
}

/// The run, and what it has to tell. Each failure in the report carries `told` (first, again or
/// quiet: `caretaker_shared::once`). Accounts are processed `ACCOUNT_CONCURRENCY` at a time, each
/// within `ACCOUNT_TIMEOUT_SECONDS`: a slow or broken account delays no other past its own
/// timeout; the report keeps the accounts' order.
pub async fn run_and_remember(deps: &Deps, req: &Request) -> (RunReport, Told) {
    let now = req.at.unwrap_or_else(Utc::now);
    let dry_run = req.dry_run || deps.config.common.dry_run || req.action == Action::Status;
    let mut report = RunReport::new(FUNCTION, req.action.as_str(), dry_run);
    let mut told = Told::default();
    let (accounts, guard) = match &req.account {
        // One account by hand (or from the fan-out): it must be allowed, as always.
        Some(a) => {
            let (guard, _) = account::accounts_of_run(deps, now, &mut report).await;
            (vec![(a.clone(), false)], guard)
        }
        None => {
            let (guard, accounts) = account::accounts_of_run(deps, now, &mut report).await;
            (accounts, guard)
        }
    };
    let timeout = deps.config.account_timeout;
    let parts: Vec<(RunReport, Told)> = futures::stream::iter(accounts)
        .map(|(account, from_ou)| {
            let guard = guard.clone();
            async move {
                let one = account::run_account(deps, req, &guard, &account, from_ou, now, dry_run);
                match tokio::time::timeout(timeout, one).await {
                    Ok(done) => done,
                    Err(_) => {
                        let mut r = RunReport::new(FUNCTION, req.action.as_str(), dry_run);
                        r.record(
                            "account",
                            &account,
                            Outcome::failed(format!(
                                "took longer than {} s (ACCOUNT_TIMEOUT_SECONDS): the run went on without it; the next run carries on from what it finds",
                                timeout.as_secs()
                            )),
                        );
                        (r, Told::default())
                    }
                }
            }
        })
        .buffered(deps.config.account_concurrency)
        .collect()
        .await;
    for (part, t) in parts {
        for r in part.resources {
            report.push(r);
        }
        told.cleared.extend(t.cleared);
        told.mornings.extend(t.mornings);
        told.joined.extend(t.joined);
    }
    crate::report_size::bound(&mut report);
    (report.finish(), told)
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

    /// The account's region, as its resources' prices are looked up in.
    fn region(&self) -> String {
        self.cfg
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned())
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

    /// Kubernetes workloads of each cluster the guard allows, opted in by annotation only; in a
    /// run that brings things up, each waits for what it needs (`ready`).
    async fn kubernetes(
        &self,
        clusters: &[Cluster],
        report: &mut RunReport,
        ready: Option<&Readiness>,
    ) {
        let decider = self.decider.for_workloads();
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
            let walked = kubernetes::walk(
                cluster,
                self.cfg,
                settings,
                &decider,
                ready,
                self.dry_run,
                report,
            )
            .await;
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
