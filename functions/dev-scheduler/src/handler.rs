//! Payload → action → per-account walk in order (night: workloads → node groups → databases;
//! morning: databases → node groups → workloads) → report.
//!
//! Safe to run twice: every step compares the desired state with the actual one, so a second
//! run over an unchanged world makes no mutating call; remembered node group sizes and replica
//! counts are written only from a non-zero size, so a second shutdown cannot overwrite them with zero.

use std::collections::BTreeMap;

use aws_sdk_eks::types::NodegroupScalingConfig;
use caretaker_shared::notify::{Notification, Severity};
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::{Guard, telemetry};
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use tracing::info;

use crate::Deps;
use crate::domain::{self, Action, DbStep, Desired, NgStep, Policy, Sizes, TAG_SIZE_PREFIX};
use crate::error::SchedulerError;
use crate::kubernetes::{self, Cluster};

const FUNCTION: &str = "dev-scheduler";

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub action: Action,
    pub dry_run: bool,
    pub at: Option<DateTime<Utc>>,
    /// Only this account (a shutdown request from budget-guard names one).
    pub account: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Payload {
    action: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    at: Option<String>,
}

pub fn parse(v: Value) -> Result<Request, SchedulerError> {
    let bad = |m: String| SchedulerError::BadInput(m);
    if v.get("detail-type").and_then(|d| d.as_str()) == Some("Dev Shutdown Requested") {
        let account = v
            .pointer("/detail/account")
            .and_then(|a| a.as_str())
            .ok_or_else(|| bad("shutdown request without detail.account".into()))?;
        return Ok(Request {
            action: Action::Shutdown,
            dry_run: false,
            at: None,
            account: Some(account.to_owned()),
        });
    }
    let p: Payload = serde_json::from_value(v).map_err(|e| {
        bad(format!(
            "{e}; expected {{\"action\", \"dryRun\"?, \"at\"?}}"
        ))
    })?;
    let at = match p.at {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(&t)
                .map_err(|_| bad(format!("\"at\" {t:?} is not an RFC 3339 time")))?
                .with_timezone(&Utc),
        ),
    };
    Ok(Request {
        action: Action::parse(&p.action).map_err(bad)?,
        dry_run: p.dry_run,
        at,
        account: None,
    })
}

pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<RunReport, SchedulerError> {
    let correlation = telemetry::event_id(&event.payload);
    telemetry::report_invocation(FUNCTION, correlation.as_deref(), async {
        let req = parse(event.payload)?;
        let report = run(deps, &req).await;
        if let Some(n) = notification(&report, req.account.as_deref()) {
            deps.notifiers.send(&n).await;
        }
        Ok(report)
    })
    .await
}

/// What the team hears about a run: failures (the reconcile retries them, but someone may have
/// to act), corrected drift, and a shutdown budget-guard asked for. A routine night or morning,
/// and any dry run, says nothing.
pub fn notification(report: &RunReport, budget_account: Option<&str>) -> Option<Notification> {
    if report.dry_run {
        return None;
    }
    let failed: Vec<_> = report
        .resources
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .collect();
    let drift: Vec<_> = report
        .resources
        .iter()
        .filter(|r| r.details.get("drift") == Some(&Value::Bool(true)))
        .collect();
    if failed.is_empty() && drift.is_empty() && budget_account.is_none() {
        return None;
    }
    let action = report.action.as_str();
    let (severity, title) = if !failed.is_empty() {
        let severity = if action == "startup" {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let title = format!(
            "dev-scheduler {action}: {} of {} resources failed",
            failed.len(),
            report.resources.len()
        );
        (severity, title)
    } else if let Some(account) = budget_account {
        (
            Severity::Info,
            format!("dev-scheduler: dev ({account}) shut down as budget-guard asked"),
        )
    } else {
        (
            Severity::Info,
            format!(
                "dev-scheduler reconcile: {} resources brought back to schedule",
                drift.len()
            ),
        )
    };
    let mut n = Notification::new(severity, title).fact("Summary", &report.summary);
    const SHOWN: usize = 10;
    for r in failed.iter().take(SHOWN) {
        if let Outcome::Failed { error } = &r.outcome {
            n = n.fact(format!("✘ {} {}", r.kind, r.id), error);
        }
    }
    for r in drift.iter().take(SHOWN) {
        if let Outcome::Changed { action } = &r.outcome {
            n = n.fact(format!("↻ {} {}", r.kind, r.id), action);
        }
    }
    let hidden = failed.len().saturating_sub(SHOWN) + drift.len().saturating_sub(SHOWN);
    if hidden > 0 {
        n = n.fact(
            "More",
            format!("{hidden} more in the run report (function logs)"),
        );
    }
    Some(n.action(if !failed.is_empty() {
        "Fix the cause named above; the hourly reconcile retries what failed."
    } else if budget_account.is_some() {
        "Nothing, if dev can wait: the next morning startup brings it back."
    } else {
        "Nothing, if expected. To keep a resource up, tag or annotate it caretaker/keep-up-until."
    }))
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
                report.record(
                    "account",
                    &account,
                    Outcome::failed(caretaker_shared::error::chain(&e)),
                );
                continue;
            }
        };
        let (rds, eks) = (
            aws_sdk_rds::Client::new(&cfg),
            aws_sdk_eks::Client::new(&cfg),
        );
        let decider = Decider {
            policy: deps.config.policy.clone(),
            guard: guard(deps),
            account: account.clone(),
            action: req.action,
            now,
        };
        let clusters = clusters(&eks, &account, &mut report).await;
        let r = &mut report;
        // Night: workloads → node groups → databases. Morning: the reverse.
        if req.action == Action::Startup {
            databases(&rds, &decider, dry_run, r).await;
            nodegroups(&eks, &clusters, &decider, dry_run, r).await;
            kubernetes(deps, &cfg, &clusters, &decider, dry_run, r).await;
        } else {
            kubernetes(deps, &cfg, &clusters, &decider, dry_run, r).await;
            nodegroups(&eks, &clusters, &decider, dry_run, r).await;
            databases(&rds, &decider, dry_run, r).await;
        }
    }
    report.finish()
}

/// The account's EKS clusters, described once for node groups and workloads.
async fn clusters(
    eks: &aws_sdk_eks::Client,
    account: &str,
    report: &mut RunReport,
) -> Vec<Cluster> {
    let mut names = Vec::new();
    let mut pages = eks.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => names.extend(p.clusters.unwrap_or_default()),
            Err(e) => {
                let msg = format!("ListClusters: {}", caretaker_shared::error::chain(&e));
                report.record("eks", account, Outcome::failed(msg));
                return Vec::new();
            }
        }
    }
    let mut out = Vec::new();
    for name in names {
        match eks.describe_cluster().name(&name).send().await {
            Ok(o) => {
                let c = o
                    .cluster
                    .unwrap_or_else(|| aws_sdk_eks::types::Cluster::builder().build());
                out.push(Cluster {
                    name,
                    arn: c.arn.unwrap_or_default(),
                    tags: c.tags.unwrap_or_default().into_iter().collect(),
                    endpoint: c.endpoint,
                    ca_data: c.certificate_authority.and_then(|a| a.data),
                });
            }
            Err(e) => {
                report
                    .record(
                        "eks-cluster",
                        &name,
                        Outcome::failed(caretaker_shared::error::chain(&e)),
                    )
                    .in_account(account);
            }
        }
    }
    out
}

/// Kubernetes workloads of each cluster the guard allows. The account-wide default schedule
/// does not apply to workloads: only opted-in namespaces and workloads are touched.
async fn kubernetes(
    deps: &Deps,
    cfg: &aws_config::SdkConfig,
    clusters: &[Cluster],
    decider: &Decider,
    dry_run: bool,
    report: &mut RunReport,
) {
    let decider = Decider {
        policy: Policy {
            default: None,
            ..decider.policy.clone()
        },
        ..decider.clone()
    };
    let account = decider.account.as_str();
    for cluster in clusters {
        // Never call a production cluster's API, whatever its namespaces say.
        if let Err(r) = decider.guard.check(account, &cluster.tags) {
            report
                .record(
                    "eks-cluster",
                    &cluster.name,
                    Outcome::skipped(format!("workloads not touched, refused: {r}")),
                )
                .in_account(account);
            continue;
        }
        let walked =
            kubernetes::walk(cluster, cfg, &deps.config.kube, &decider, dry_run, report).await;
        if let Err(e) = walked {
            report
                .record(
                    "eks-cluster",
                    &cluster.name,
                    Outcome::failed(format!("Kubernetes API: {e}")),
                )
                .in_account(account);
        }
    }
}

fn tag_map(tags: Option<Vec<aws_sdk_rds::types::Tag>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value?)))
        .collect()
}

/// Decides resources of one account for one run: schedule (overrides, holidays), then the guard.
/// Production is refused before anything else happens, opted in or not.
#[derive(Debug, Clone)]
pub struct Decider {
    pub policy: Policy,
    pub guard: Guard,
    pub account: String,
    pub action: Action,
    pub now: DateTime<Utc>,
}

impl Decider {
    /// `Ok(up)`, or the outcome to report when the resource is left alone.
    pub fn decide(&self, tags: &BTreeMap<String, String>) -> Result<bool, Outcome> {
        match domain::desired(tags, &self.policy, self.action, self.now) {
            Err(e) => Err(Outcome::failed(e)),
            Ok(Desired::Leave(why)) => Err(Outcome::skipped(why)),
            Ok(d) => {
                self.guard
                    .check(&self.account, tags)
                    .map_err(|r| Outcome::skipped(format!("refused: {r}")))?;
                Ok(matches!(d, Desired::Up(_)))
            }
        }
    }
}

async fn databases(
    rds: &aws_sdk_rds::Client,
    decider: &Decider,
    dry_run: bool,
    report: &mut RunReport,
) {
    let (account, action) = (decider.account.as_str(), decider.action);
    let mut pages = rds.describe_db_instances().into_paginator().send();
    let mut instances = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => instances.extend(p.db_instances.unwrap_or_default()),
            Err(e) => {
                report.record(
                    "rds",
                    account,
                    Outcome::failed(format!(
                        "DescribeDBInstances: {}",
                        caretaker_shared::error::chain(&e)
                    )),
                );
                return;
            }
        }
    }
    for i in instances {
        let id = i.db_instance_identifier.clone().unwrap_or_default();
        let tags = tag_map(i.tag_list.clone());
        let up = match decider.decide(&tags) {
            Ok(up) => up,
            Err(outcome) => {
                report
                    .record("rds-instance", &id, outcome)
                    .in_account(account);
                continue;
            }
        };
        let ineligible = if i.read_replica_source_db_instance_identifier.is_some() {
            Some("read replica: RDS cannot stop it")
        } else if !i
            .read_replica_db_instance_identifiers
            .clone()
            .unwrap_or_default()
            .is_empty()
        {
            Some("has read replicas: RDS cannot stop it")
        } else if i.db_cluster_identifier.is_some() {
            Some("Aurora member: its cluster is scheduled instead")
        } else {
            None
        };
        let status = i.db_instance_status.clone().unwrap_or_default();
        let step = domain::db_step(up, &status, ineligible);
        let outcome = apply(
            step,
            dry_run,
            async {
                let res = rds
                    .stop_db_instance()
                    .db_instance_identifier(&id)
                    .send()
                    .await;
                sdk_outcome(
                    res,
                    "stopped",
                    "not in a stoppable state now: the next reconcile retries",
                    |e| e.is_invalid_db_instance_state_fault(),
                )
            },
            async {
                let res = rds
                    .start_db_instance()
                    .db_instance_identifier(&id)
                    .send()
                    .await;
                sdk_outcome(
                    res,
                    "started",
                    "not in a startable state now: the next reconcile retries",
                    |e| e.is_invalid_db_instance_state_fault(),
                )
            },
        )
        .await;
        let drift = action == Action::Reconcile && matches!(outcome, Outcome::Changed { .. });
        let r = report
            .record("rds-instance", &id, outcome)
            .in_account(account);
        r.detail("status", &status)
            .detail("desired", if up { "up" } else { "down" });
        if drift {
            info!(instance = %id, status = %status, "drift corrected (e.g. RDS's automatic start after 7 days stopped)");
            r.detail("drift", true);
        }
    }
    let mut pages = rds.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let p = match page {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("DescribeDBClusters: {}", caretaker_shared::error::chain(&e));
                report.record("rds", account, Outcome::failed(msg));
                return;
            }
        };
        for c in p.db_clusters.unwrap_or_default() {
            let id = c.db_cluster_identifier.clone().unwrap_or_default();
            let tags = tag_map(c.tag_list.clone());
            let up = match decider.decide(&tags) {
                Ok(up) => up,
                Err(outcome) => {
                    report
                        .record("rds-cluster", &id, outcome)
                        .in_account(account);
                    continue;
                }
            };
            let status = c.status.clone().unwrap_or_default();
            let outcome = apply(
                domain::db_step(up, &status, None),
                dry_run,
                async {
                    let res = rds
                        .stop_db_cluster()
                        .db_cluster_identifier(&id)
                        .send()
                        .await;
                    sdk_outcome(
                        res,
                        "stopped",
                        "not in a stoppable state now: the next reconcile retries",
                        |e| e.is_invalid_db_cluster_state_fault(),
                    )
                },
                async {
                    let res = rds
                        .start_db_cluster()
                        .db_cluster_identifier(&id)
                        .send()
                        .await;
                    sdk_outcome(
                        res,
                        "started",
                        "not in a startable state now: the next reconcile retries",
                        |e| e.is_invalid_db_cluster_state_fault(),
                    )
                },
            )
            .await;
            report
                .record("rds-cluster", &id, outcome)
                .in_account(account)
                .detail("status", &status);
        }
    }
}

/// A database step's outcome: nothing, a reason, a dry-run plan, or the stop or start call
/// (the calls are futures, so only the one needed runs).
async fn apply(
    step: DbStep,
    dry_run: bool,
    stop: impl Future<Output = Outcome>,
    start: impl Future<Output = Outcome>,
) -> Outcome {
    match step {
        DbStep::Nothing => Outcome::Unchanged,
        DbStep::Skip(why) => Outcome::skipped(why),
        DbStep::Stop if dry_run => Outcome::changed("stop"),
        DbStep::Start if dry_run => Outcome::changed("start"),
        DbStep::Stop => stop.await,
        DbStep::Start => start.await,
    }
}

/// A stop or start call's result: done, retried later when RDS says the state does not allow
/// it now (`transitional`), or failed with its cause.
fn sdk_outcome<T, E, R>(
    res: Result<T, aws_sdk_rds::error::SdkError<E, R>>,
    done: &str,
    later: &str,
    transitional: impl Fn(&E) -> bool,
) -> Outcome
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(_) => Outcome::changed(done),
        Err(e) if e.as_service_error().is_some_and(&transitional) => Outcome::skipped(later),
        Err(e) => Outcome::failed(caretaker_shared::error::chain(&e)),
    }
}

async fn nodegroups(
    eks: &aws_sdk_eks::Client,
    clusters: &[Cluster],
    decider: &Decider,
    dry_run: bool,
    report: &mut RunReport,
) {
    let account = decider.account.as_str();
    for c in clusters {
        let (cluster, arn, cluster_tags) = (c.name.as_str(), c.arn.as_str(), &c.tags);
        let ngs = match eks.list_nodegroups().cluster_name(cluster).send().await {
            Ok(o) => o.nodegroups.unwrap_or_default(),
            Err(e) => {
                report
                    .record(
                        "eks-cluster",
                        cluster,
                        Outcome::failed(caretaker_shared::error::chain(&e)),
                    )
                    .in_account(account);
                continue;
            }
        };
        for ng in ngs {
            let id = format!("{cluster}/{ng}");
            let described = match eks
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(&ng)
                .send()
                .await
            {
                Ok(o) => o.nodegroup,
                Err(e) => {
                    report
                        .record(
                            "eks-nodegroup",
                            &id,
                            Outcome::failed(caretaker_shared::error::chain(&e)),
                        )
                        .in_account(account);
                    continue;
                }
            };
            let Some(n) = described else { continue };
            // Node group tags first, the cluster's for what they do not say.
            let mut tags: BTreeMap<String, String> = cluster_tags.clone().into_iter().collect();
            tags.extend(n.tags.clone().unwrap_or_default());
            let up = match decider.decide(&tags) {
                Ok(up) => up,
                Err(outcome) => {
                    report
                        .record("eks-nodegroup", &id, outcome)
                        .in_account(account);
                    continue;
                }
            };
            let sc = n
                .scaling_config
                .clone()
                .unwrap_or_else(|| NodegroupScalingConfig::builder().build());
            let current = Sizes {
                min: sc.min_size.unwrap_or(0),
                max: sc.max_size.unwrap_or(1),
                desired: sc.desired_size.unwrap_or(0),
            };
            let size_tag = format!("{TAG_SIZE_PREFIX}{ng}");
            let remembered = cluster_tags.get(&size_tag).and_then(|s| Sizes::decode(s));
            let status = n
                .status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let outcome = match domain::ng_step(up, current, remembered, &status) {
                NgStep::Nothing => Outcome::Unchanged,
                NgStep::Skip(why) => Outcome::skipped(why),
                NgStep::ScaleDown { .. } if dry_run => {
                    Outcome::changed(format!("scale to 0 (remember {})", current.encode()))
                }
                NgStep::ScaleUp(s) if dry_run => {
                    Outcome::changed(format!("scale back to {}", s.encode()))
                }
                NgStep::ScaleDown { remember, max } => {
                    // Remember first: if the update then fails, the size is still known.
                    let mut ok = true;
                    if let Some(s) = remember
                        && remembered != Some(s)
                        && let Err(e) = eks
                            .tag_resource()
                            .resource_arn(arn)
                            .tags(&size_tag, s.encode())
                            .send()
                            .await
                    {
                        ok = false;
                        report
                            .record(
                                "eks-nodegroup",
                                &id,
                                Outcome::failed(format!(
                                    "could not remember the size: {}",
                                    caretaker_shared::error::chain(&e)
                                )),
                            )
                            .in_account(account);
                    }
                    if !ok {
                        continue;
                    }
                    let cfg = NodegroupScalingConfig::builder()
                        .min_size(0)
                        .desired_size(0)
                        .max_size(max)
                        .build();
                    match eks
                        .update_nodegroup_config()
                        .cluster_name(cluster)
                        .nodegroup_name(&ng)
                        .scaling_config(cfg)
                        .send()
                        .await
                    {
                        Ok(_) => Outcome::changed(format!(
                            "scaled to 0 (remembered {})",
                            current.encode()
                        )),
                        Err(e) => Outcome::failed(caretaker_shared::error::chain(&e)),
                    }
                }
                NgStep::ScaleUp(s) => {
                    let cfg = NodegroupScalingConfig::builder()
                        .min_size(s.min)
                        .desired_size(s.desired)
                        .max_size(s.max)
                        .build();
                    match eks
                        .update_nodegroup_config()
                        .cluster_name(cluster)
                        .nodegroup_name(&ng)
                        .scaling_config(cfg)
                        .send()
                        .await
                    {
                        Ok(_) => Outcome::changed(format!("scaled back to {}", s.encode())),
                        Err(e) => Outcome::failed(caretaker_shared::error::chain(&e)),
                    }
                }
            };
            report
                .record("eks-nodegroup", &id, outcome)
                .in_account(account)
                .detail("size", current.encode());
        }
    }
}
