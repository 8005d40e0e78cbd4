//! dev-scheduler (node groups and databases) against moto's EKS and RDS in a per-test dev
//! account reached by role assumption. moto's states jump (no stopping/starting) and node
//! groups cannot be tagged after creation: tags are given at create time, as in the seed.

use std::collections::HashMap;

use aws_sdk_eks::types::NodegroupScalingConfig;
use aws_sdk_rds::types::Tag;
use caretaker_shared::notify::{Notifiers, SnsSink};
use caretaker_shared::report::{Outcome, RunReport};
use dev_scheduler::domain::Action;
use dev_scheduler::event::{Request, parse};
use dev_scheduler::handler::{handle, run};
use dev_scheduler::{Deps, SchedulerConfig};
use lambda_runtime::LambdaEvent;
use serde_json::json;

use caretaker_tests::kube_standin::KubeStandin;

use crate::support::*;

/// (name, min, max, desired, tags)
pub type NodeGroup<'a> = (&'a str, i32, i32, i32, &'a [(&'a str, &'a str)]);

pub struct Fx {
    pub dev: String,
    pub cfg: aws_config::SdkConfig,
    pub deps: Deps,
    /// The management account (where the alert topic is) and the queue capturing the topic.
    pub home: aws_config::SdkConfig,
    pub alerts: String,
    /// The Kubernetes API of every cluster in the account (moto's endpoints resolve nowhere).
    pub kube: KubeStandin,
}

/// Monday 30 November 2026, 21:00 UTC: outside office hours.
pub const NIGHT: &str = "2026-11-30T21:00:00Z";
/// Tuesday 1 December 2026, 08:00 UTC: inside.
pub const MORNING: &str = "2026-12-01T08:00:00Z";

impl Fx {
    pub async fn new(holidays: &str) -> Self {
        Self::with(holidays, &[]).await
    }

    /// `extra` variables override the defaults below.
    pub async fn with(holidays: &str, extra: &[(&str, &str)]) -> Self {
        let home = fresh_account();
        let dev = fresh_account();
        let base = config_in(&home).await;
        let cfg = config_in(&dev).await;
        let kube = KubeStandin::start().await;
        let ca = kube.ca_file.display().to_string();
        let mut vars: Vec<(&str, &str)> = extra.to_vec();
        vars.extend([
            ("ALLOWED_ACCOUNTS", dev.as_str()),
            ("TARGET_ROLE_NAME", "caretaker-spoke"),
            (
                "SCHEDULES",
                r#"{"office-hours": "Mon-Fri 07:00-20:00 UTC"}"#,
            ),
            ("HOLIDAYS", holidays),
            ("KUBE_ENDPOINT_OVERRIDE", kube.url.as_str()),
            ("KUBE_CA_FILE", ca.as_str()),
        ]);
        let config = SchedulerConfig::from_env(&vars.as_slice()).unwrap();
        let (sns, topic, alerts) = alert_topic(&base).await;
        let notifiers = Notifiers::new(vec![Box::new(SnsSink::new(sns, topic))]);
        Fx {
            home: base.clone(),
            alerts,
            dev: dev.clone(),
            cfg,
            deps: Deps::new(base, home, config).with_notifiers(notifiers),
            kube,
        }
    }

    pub fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.cfg)
    }

    pub fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.cfg)
    }

    pub async fn db(&self, id: &str, tags: &[(&str, &str)]) {
        let mut req = self
            .rds()
            .create_db_instance()
            .db_instance_identifier(id)
            .engine("postgres")
            .db_instance_class("db.t4g.small")
            .allocated_storage(20)
            .master_username("m")
            .master_user_password("password123");
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        req.send().await.unwrap();
    }

    /// An Aurora PostgreSQL cluster with the given tags.
    pub async fn aurora(&self, id: &str, tags: &[(&str, &str)]) {
        let mut req = self
            .rds()
            .create_db_cluster()
            .db_cluster_identifier(id)
            .engine("aurora-postgresql")
            .master_username("m")
            .master_user_password("password123");
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        req.send().await.unwrap();
    }

    pub async fn aurora_status(&self, id: &str) -> String {
        self.rds()
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .unwrap()
            .db_clusters
            .unwrap()[0]
            .status
            .clone()
            .unwrap()
    }

    pub async fn db_status(&self, id: &str) -> String {
        self.rds()
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .unwrap()
            .db_instances
            .unwrap()[0]
            .db_instance_status
            .clone()
            .unwrap()
    }

    pub async fn cluster(&self, name: &str, tags: &[(&str, &str)], ngs: &[NodeGroup<'_>]) {
        let tagmap = |t: &[(&str, &str)]| {
            t.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        self.eks()
            .create_cluster()
            .name(name)
            .role_arn(format!("arn:aws:iam::{}:role/eks", self.dev))
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("subnet-1")
                    .build(),
            )
            .set_tags(Some(tagmap(tags)))
            .send()
            .await
            .unwrap();
        for (ng, min, max, desired, ngtags) in ngs {
            self.eks()
                .create_nodegroup()
                .cluster_name(name)
                .nodegroup_name(*ng)
                .node_role(format!("arn:aws:iam::{}:role/node", self.dev))
                .subnets("subnet-1")
                .scaling_config(
                    NodegroupScalingConfig::builder()
                        .min_size(*min)
                        .max_size(*max)
                        .desired_size(*desired)
                        .build(),
                )
                .set_tags(Some(tagmap(ngtags)))
                .send()
                .await
                .unwrap();
        }
    }

    pub async fn sizes(&self, cluster: &str, ng: &str) -> (i32, i32, i32) {
        let n = self
            .eks()
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(ng)
            .send()
            .await
            .unwrap()
            .nodegroup
            .unwrap();
        let s = n.scaling_config.unwrap();
        (
            s.min_size.unwrap(),
            s.max_size.unwrap(),
            s.desired_size.unwrap(),
        )
    }

    /// Through the Lambda handler (which also notifies), as EventBridge would invoke it.
    pub async fn invoke(&self, payload: serde_json::Value) -> RunReport {
        handle(
            LambdaEvent::new(payload.into(), Default::default()),
            &self.deps,
        )
        .await
        .unwrap()
    }

    /// The notifications that arrived on the alert topic since the last call.
    pub async fn messages(&self) -> Vec<String> {
        drain(&self.home, &self.alerts).await
    }

    pub async fn act(&self, action: Action, at: &str, dry_run: bool) -> RunReport {
        run(
            &self.deps,
            &Request {
                action,
                dry_run,
                at: Some(at.parse().unwrap()),
                account: None,
            },
        )
        .await
    }
}

pub const DEV: &[(&str, &str)] = &[("env", "dev"), ("caretaker/schedule", "office-hours")];
/// Opted in, and kept up by its tag until 23:00 on the night of `NIGHT`.
pub const KEPT_UP: &[(&str, &str)] = &[
    ("env", "dev"),
    ("caretaker/schedule", "office-hours"),
    ("caretaker/keep-up-until", "2026-11-30T23:00:00Z"),
];

pub fn outcome<'a>(r: &'a RunReport, id: &str) -> &'a Outcome {
    &r.resources
        .iter()
        .find(|x| x.id == id)
        .unwrap_or_else(|| panic!("{id} not in {r:#?}"))
        .outcome
}

#[tokio::test]
async fn shutdown_and_startup_restore_exact_sizes_in_order_and_twice_changes_nothing() {
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    fx.cluster(
        "innovate-dev",
        &[("env", "dev")],
        &[("addons", 2, 3, 2, DEV), ("batch", 1, 5, 3, DEV)],
    )
    .await;

    let night = fx.act(Action::Shutdown, NIGHT, false).await;
    assert_eq!(night.totals.failed, 0, "{night:#?}");
    let kinds: Vec<&str> = night.resources.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["eks-nodegroup", "eks-nodegroup", "rds-instance"],
        "night order: node groups, then databases"
    );
    assert_eq!(fx.sizes("innovate-dev", "addons").await, (0, 3, 0));
    assert_eq!(fx.sizes("innovate-dev", "batch").await, (0, 5, 0));
    assert_eq!(fx.db_status("app-dev-db").await, "stopped");

    let again = fx.act(Action::Shutdown, NIGHT, false).await;
    assert_eq!(
        (again.totals.changed, again.totals.unchanged),
        (0, 3),
        "{again:#?}"
    );

    let morning = fx.act(Action::Startup, MORNING, false).await;
    let kinds: Vec<&str> = morning.resources.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["rds-instance", "eks-nodegroup", "eks-nodegroup"],
        "morning order: databases first"
    );
    assert_eq!(
        fx.sizes("innovate-dev", "addons").await,
        (2, 3, 2),
        "exact sizes restored"
    );
    assert_eq!(fx.sizes("innovate-dev", "batch").await, (1, 5, 3));
    assert_eq!(fx.db_status("app-dev-db").await, "available");
}

#[tokio::test]
async fn prod_is_refused_even_when_opted_in_and_unopted_is_left_alone() {
    let fx = Fx::new("").await;
    fx.db(
        "app-prod-db",
        &[("env", "prod"), ("caretaker/schedule", "office-hours")],
    )
    .await;
    fx.db("someones-db", &[("env", "dev")]).await;
    fx.db("no-env-db", &[("caretaker/schedule", "office-hours")])
        .await;
    let r = fx.act(Action::Shutdown, NIGHT, false).await;
    assert!(
        matches!(outcome(&r, "app-prod-db"), Outcome::Skipped { reason } if reason.contains("env=prod")),
        "{r:#?}"
    );
    assert!(
        matches!(outcome(&r, "someones-db"), Outcome::Skipped { reason } if reason.contains("not opted in"))
    );
    assert!(
        matches!(outcome(&r, "no-env-db"), Outcome::Skipped { reason } if reason.contains("no env tag"))
    );
    for id in ["app-prod-db", "someones-db", "no-env-db"] {
        assert_eq!(fx.db_status(id).await, "available", "{id} untouched");
    }
}

#[tokio::test]
async fn startup_without_prior_shutdown_and_dry_run_make_no_mutating_call() {
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    fx.cluster("innovate-dev", &[], &[("addons", 2, 3, 2, DEV)])
        .await;
    let r = fx.act(Action::Startup, MORNING, false).await;
    assert_eq!((r.totals.changed, r.totals.unchanged), (0, 2), "{r:#?}");
    let dry = fx.act(Action::Shutdown, NIGHT, true).await;
    assert!(dry.dry_run && dry.totals.changed == 2, "{dry:#?}");
    assert_eq!(fx.sizes("innovate-dev", "addons").await, (2, 3, 2));
    assert_eq!(fx.db_status("app-dev-db").await, "available");
    let status = run(
        &fx.deps,
        &parse(json!({"action": "status", "at": NIGHT})).unwrap(),
    )
    .await;
    assert!(
        status.dry_run && status.totals.changed == 2,
        "status reports desired vs actual and changes nothing"
    );
    assert_eq!(fx.db_status("app-dev-db").await, "available");
}

#[tokio::test]
async fn reconcile_catches_the_automatic_restart_and_keep_up_and_holidays_are_honoured() {
    let fx = Fx::new("2026-12-01").await;
    fx.db("app-dev-db", DEV).await;
    fx.db("demo-db", KEPT_UP).await;
    fx.act(Action::Shutdown, NIGHT, false).await;
    assert_eq!(
        fx.db_status("demo-db").await,
        "available",
        "kept up by its tag"
    );
    // Seven days later RDS starts a stopped instance by itself; the hourly reconcile stops it again.
    fx.rds()
        .start_db_instance()
        .db_instance_identifier("app-dev-db")
        .send()
        .await
        .unwrap();
    let r = fx
        .act(Action::Reconcile, "2026-12-05T12:00:00Z", false)
        .await;
    assert_eq!(
        outcome(&r, "app-dev-db"),
        &Outcome::changed("stopped"),
        "{r:#?}"
    );
    assert_eq!(
        r.resources
            .iter()
            .find(|x| x.id == "app-dev-db")
            .unwrap()
            .details["drift"],
        true
    );
    assert_eq!(
        outcome(&r, "demo-db"),
        &Outcome::changed("stopped"),
        "keep-up-until has passed"
    );
    // 1 December is a holiday: the morning startup skips it.
    let h = fx.act(Action::Startup, MORNING, false).await;
    assert!(
        matches!(outcome(&h, "app-dev-db"), Outcome::Skipped { reason } if reason.contains("holiday")),
        "{h:#?}"
    );
    assert_eq!(fx.db_status("app-dev-db").await, "stopped");
}

#[tokio::test]
async fn one_failing_resource_does_not_stop_the_others_and_bad_input_changes_nothing() {
    let fx = Fx::new("").await;
    fx.db(
        "bad-tag-db",
        &[
            ("env", "dev"),
            ("caretaker/schedule", "Mon-Fri 7-20 Mars/Olympus"),
        ],
    )
    .await;
    fx.db("app-dev-db", DEV).await;
    let r = fx.act(Action::Shutdown, NIGHT, false).await;
    assert!(
        matches!(outcome(&r, "bad-tag-db"), Outcome::Failed { error } if error.contains("caretaker/schedule")),
        "{r:#?}"
    );
    assert_eq!(outcome(&r, "app-dev-db"), &Outcome::changed("stopped"));
    for (payload, expect) in [
        (
            include_str!("../../events/dev-scheduler/bad-unknown-action.json"),
            "unknown action",
        ),
        (
            include_str!("../../events/dev-scheduler/bad-at.json"),
            "RFC 3339",
        ),
        (r#"{"action": "shutdown", "dryrun": true}"#, "unknown field"),
    ] {
        let err = parse(serde_json::from_str(payload).unwrap()).unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
    }
    assert_eq!(fx.db_status("bad-tag-db").await, "available");
}

#[tokio::test]
async fn budget_guards_shutdown_request_shuts_that_account_down() {
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    let mut ev: serde_json::Value = serde_json::from_str(include_str!(
        "../../events/dev-scheduler/budget-shutdown-request.json"
    ))
    .unwrap();
    ev["detail"]["account"] = fx.dev.clone().into();
    let req = parse(ev.clone()).unwrap();
    assert_eq!(req.account.as_deref(), Some(fx.dev.as_str()));
    let r = fx.invoke(ev).await;
    assert_eq!(outcome(&r, "app-dev-db"), &Outcome::changed("stopped"));
    let msgs = fx.messages().await;
    assert!(
        msgs.len() == 1 && msgs[0].contains("shut down as budget-guard asked"),
        "the shutdown budget-guard asked for is confirmed: {msgs:?}"
    );
}

#[tokio::test]
async fn an_aurora_cluster_restarted_by_hand_is_drift_put_back_and_notified() {
    let fx = Fx::new("").await;
    fx.aurora("aurora-dev", DEV).await;
    let night = fx.invoke(json!({"action": "shutdown", "at": NIGHT})).await;
    assert_eq!(outcome(&night, "aurora-dev"), &Outcome::changed("stopped"));
    assert_eq!(fx.aurora_status("aurora-dev").await, "stopped");
    assert!(
        fx.messages().await.is_empty(),
        "a routine night says nothing"
    );
    // Seven days stopped: RDS starts the cluster by itself; the reconcile stops it again.
    fx.rds()
        .start_db_cluster()
        .db_cluster_identifier("aurora-dev")
        .send()
        .await
        .unwrap();
    let r = fx
        .invoke(json!({"action": "reconcile", "at": "2026-12-05T12:00:00Z"}))
        .await;
    let c = r.resources.iter().find(|x| x.id == "aurora-dev").unwrap();
    assert_eq!(c.outcome, Outcome::changed("stopped"), "{r:#?}");
    assert_eq!(c.details["drift"], true, "{c:#?}");
    assert_eq!(c.details["desired"], "down", "{c:#?}");
    assert_eq!(fx.aurora_status("aurora-dev").await, "stopped");
    let msgs = fx.messages().await;
    assert!(
        msgs.len() == 1 && msgs[0].contains("rds-cluster aurora-dev"),
        "the cluster's drift is notified like an instance's: {msgs:?}"
    );
}

#[tokio::test]
async fn a_shutdown_request_with_a_wrong_source_action_or_account_is_refused_silently() {
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    let good: serde_json::Value = serde_json::from_str(include_str!(
        "../../events/dev-scheduler/budget-shutdown-request.json"
    ))
    .unwrap();
    for (file, needle) in [
        (
            include_str!("../../events/dev-scheduler/bad-shutdown-wrong-source.json"),
            "source",
        ),
        (
            include_str!("../../events/dev-scheduler/bad-shutdown-wrong-action.json"),
            "action",
        ),
        (
            include_str!("../../events/dev-scheduler/bad-shutdown-bad-account.json"),
            "account",
        ),
    ] {
        let mut ev: serde_json::Value = serde_json::from_str(file).unwrap();
        if ev["detail"]["account"] == good["detail"]["account"] {
            ev["detail"]["account"] = fx.dev.clone().into();
        }
        let err = handle(LambdaEvent::new(ev.into(), Default::default()), &fx.deps)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert_eq!(
            lambda_runtime::Diagnostic::from(err).error_type,
            "InvalidInput"
        );
    }
    assert_eq!(
        fx.db_status("app-dev-db").await,
        "available",
        "nothing changed"
    );
    assert!(fx.messages().await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_report_says_why_for_every_resource_it_decided() {
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    fx.db("demo-db", KEPT_UP).await;
    let why = |r: &RunReport, id: &str| {
        r.resources.iter().find(|x| x.id == id).unwrap().details["why"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let status = fx.act(Action::Status, NIGHT, false).await;
    assert_eq!(
        why(&status, "app-dev-db"),
        "outside Mon-Fri 07:00-20:00 UTC"
    );
    assert!(
        why(&status, "demo-db").starts_with("kept up until 2026-11-30 23:00:00 UTC by tag"),
        "{status:#?}"
    );
    assert_eq!(outcome(&status, "demo-db"), &Outcome::Unchanged);
    let morning = fx.act(Action::Status, MORNING, false).await;
    assert_eq!(
        why(&morning, "app-dev-db"),
        "within Mon-Fri 07:00-20:00 UTC"
    );
}
