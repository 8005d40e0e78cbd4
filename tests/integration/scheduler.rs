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
    /// The account the function runs in.
    pub home_account: String,
    pub dev: String,
    pub cfg: aws_config::SdkConfig,
    pub deps: Deps,
    /// The management account (where the alert topic is) and the queue capturing the topic.
    pub home: aws_config::SdkConfig,
    pub alerts: String,
    /// The Kubernetes API of every cluster in the account (moto's endpoints resolve nowhere).
    pub kube: KubeStandin,
}

/// Service config that reads nothing from the environment (so AWS_ENDPOINT_URL cannot win
/// over a proxy's endpoint).
#[derive(Debug)]
struct NoEnvEndpoint;

impl aws_types::service_config::LoadServiceConfig for NoEnvEndpoint {
    fn load_config(&self, _: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

/// The account memory's table, in the home account.
pub const STATE_TABLE: &str = "caretaker-dev-scheduler";

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
        Self::through(holidays, extra, None).await
    }

    /// As [`Fx::with`], with the function's AWS calls sent to `endpoint` (a proxy) instead.
    pub async fn through(holidays: &str, extra: &[(&str, &str)], endpoint: Option<&str>) -> Self {
        Self::through_home(&fresh_account(), holidays, extra, endpoint).await
    }

    /// As [`Fx::through`], with the function in the given (management) account.
    pub async fn through_home(
        home: &str,
        holidays: &str,
        extra: &[(&str, &str)],
        endpoint: Option<&str>,
    ) -> Self {
        let home = home.to_owned();
        let dev = fresh_account();
        let mut base = config_in(&home).await;
        if let Some(url) = endpoint {
            // The environment's AWS_ENDPOINT_URL would win over the config's own.
            let mut b = base.to_builder();
            b.set_service_config(Some(NoEnvEndpoint));
            base = b.endpoint_url(url).build();
        }
        let cfg = config_in(&dev).await;
        let kube = KubeStandin::start().await;
        let ca = kube.ca_file.display().to_string();
        ledger_table(&base, STATE_TABLE).await;
        let mut vars: Vec<(&str, &str)> = extra.to_vec();
        vars.extend([
            ("STATE_TABLE", STATE_TABLE),
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
            home_account: home.clone(),
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
        rds_instance(&self.cfg, id, tags).await;
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
        rds_status(&self.cfg, id).await
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
                budget_reason: None,
                fan_out: false,
                reports: Vec::new(),
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
async fn a_start_outside_caretaker_is_drift_put_back_and_notified_an_expired_keep_up_is_routine() {
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    fx.db("demo-db", KEPT_UP).await;
    fx.act(Action::Shutdown, NIGHT, false).await;
    assert_eq!(
        fx.db_status("demo-db").await,
        "available",
        "kept up by its tag"
    );
    // The periodic run on Saturday morning: the keep-up has passed, a routine stop.
    let sat = fx
        .invoke(json!({"action": "reconcile", "at": "2026-12-05T10:00:00Z"}))
        .await;
    assert_eq!(
        outcome(&sat, "demo-db"),
        &Outcome::changed("stopped"),
        "{sat:#?}"
    );
    assert!(fx.messages().await.is_empty(), "routine: not notified");
    // Seven days stopped, RDS starts an instance by itself (or a person does): drift.
    fx.rds()
        .start_db_instance()
        .db_instance_identifier("app-dev-db")
        .send()
        .await
        .unwrap();
    let r = fx
        .invoke(json!({"action": "reconcile", "at": "2026-12-05T12:00:00Z"}))
        .await;
    let db = r.resources.iter().find(|x| x.id == "app-dev-db").unwrap();
    assert_eq!(db.outcome, Outcome::changed("stopped"), "{r:#?}");
    assert_eq!(db.details["drift"], true);
    assert!(
        db.details["cause"].as_str().unwrap().contains("not known"),
        "{db:#?}"
    );
    assert_eq!(fx.db_status("app-dev-db").await, "stopped");
    let msgs = fx.messages().await;
    assert!(
        msgs.len() == 1
            && msgs[0].contains("rds-instance app-dev-db")
            && msgs[0].contains("cause")
            && msgs[0].contains("caretaker/keep-up-until"),
        "drift is notified with its cause and how to keep a resource up: {msgs:?}"
    );
}

#[tokio::test]
async fn schedules_decide_each_in_its_own_zone_at_its_own_transitions() {
    // Thursday 3 December is a holiday.
    let fx = Fx::new("2026-12-03").await;
    let tagged = |s: &'static str| [("env", "dev"), ("caretaker/schedule", s)];
    fx.db("ny-db", &tagged("Mon-Fri 07:00-20:00 America/New_York"))
        .await;
    fx.db("utc-db", &tagged("office-hours")).await;
    fx.db("night-db", &tagged("Fri 22:00-06:00 UTC")).await;
    let states = async || {
        let mut v = Vec::new();
        for id in ["ny-db", "utc-db", "night-db"] {
            v.push(if fx.db_status(id).await == "available" {
                "up"
            } else {
                "down"
            });
        }
        v
    };
    // (periodic run at, expected ny / utc / night, resources changed)
    for (at, expect, changed) in [
        ("2026-11-30T06:00:00Z", ["down", "down", "down"], 3), // Mon 01:00 in New York
        ("2026-11-30T07:00:00Z", ["down", "up", "down"], 1),   // 07:00 UTC, 02:00 NY
        ("2026-11-30T12:00:00Z", ["up", "up", "down"], 1),     // 07:00 NY
        ("2026-11-30T20:00:00Z", ["up", "down", "down"], 1),   // 20:00 UTC, 15:00 NY
        ("2026-12-01T01:00:00Z", ["down", "down", "down"], 1), // 20:00 NY
        ("2026-12-01T01:15:00Z", ["down", "down", "down"], 0), // nothing due
        ("2026-12-03T12:30:00Z", ["down", "down", "down"], 0), // a holiday: no start
        ("2026-12-04T07:40:00Z", ["down", "up", "down"], 1),   // a late tick still starts
        ("2026-12-04T22:00:00Z", ["up", "down", "up"], 3),     // overnight window, 17:00 NY
        ("2026-12-05T03:00:00Z", ["down", "down", "up"], 1),   // Sat: NY's Friday ended
        ("2026-12-05T06:00:00Z", ["down", "down", "down"], 1), // the overnight window ends
        ("2026-12-05T15:00:00Z", ["down", "down", "down"], 0), // weekend
    ] {
        let r = fx.invoke(json!({"action": "reconcile", "at": at})).await;
        assert_eq!(states().await, expect, "at {at}: {r:#?}");
        assert_eq!(
            (r.totals.changed, r.totals.failed),
            (changed, 0),
            "at {at}: {r:#?}"
        );
        assert!(
            r.resources.iter().all(|x| x.details.get("drift").is_none()),
            "at {at}, every change is the schedule's own: {r:#?}"
        );
    }
    // Routine transitions are never notified (a morning may say that dev is ready; these sparse
    // runs start something new each time, so none finds everything up).
    let msgs = fx.messages().await;
    assert!(msgs.iter().all(|m| m.contains("dev ready at")), "{msgs:?}");
    let holiday = fx.act(Action::Status, "2026-12-03T15:00:00Z", false).await;
    let why = &holiday
        .resources
        .iter()
        .find(|x| x.id == "utc-db")
        .unwrap()
        .details["why"];
    assert_eq!(why, "2026-12-03 is a holiday (Mon-Fri 07:00-20:00 UTC)");
}

#[tokio::test]
async fn a_forced_shutdown_holds_until_the_next_scheduled_start_and_a_startup_until_the_next_stop()
{
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    let reconcile = async |at: &str| fx.act(Action::Reconcile, at, false).await;
    reconcile("2026-12-01T10:00:00Z").await;
    // budget-guard's request (or a person's shutdown) at 15:00 on a Tuesday.
    let forced = run(
        &fx.deps,
        &Request {
            action: Action::Shutdown,
            dry_run: false,
            at: Some("2026-12-01T15:00:00Z".parse().unwrap()),
            account: Some(fx.dev.clone()),
            budget_reason: None,
            fan_out: false,
            reports: Vec::new(),
        },
    )
    .await;
    assert_eq!(outcome(&forced, "app-dev-db"), &Outcome::changed("stopped"));
    let held = reconcile("2026-12-01T15:15:00Z").await;
    assert_eq!(
        outcome(&held, "app-dev-db"),
        &Outcome::Unchanged,
        "{held:#?}"
    );
    let why = held.resources[0].details["why"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        why.starts_with("held down by the shutdown of 2026-12-01 15:00:00 UTC"),
        "{why}"
    );
    assert_eq!(fx.db_status("app-dev-db").await, "stopped");
    let wed = reconcile("2026-12-02T07:00:00Z").await;
    assert_eq!(
        outcome(&wed, "app-dev-db"),
        &Outcome::changed("started"),
        "{wed:#?}"
    );
    // "Bring it up now" at night holds until the schedule next stops it.
    fx.act(Action::Startup, "2026-12-02T22:00:00Z", false).await;
    for at in ["2026-12-02T22:15:00Z", "2026-12-03T07:00:00Z"] {
        let r = reconcile(at).await;
        assert_eq!(
            outcome(&r, "app-dev-db"),
            &Outcome::Unchanged,
            "{at}: {r:#?}"
        );
    }
    let thu = reconcile("2026-12-03T20:00:00Z").await;
    assert_eq!(outcome(&thu, "app-dev-db"), &Outcome::changed("stopped"));
    assert!(thu.resources[0].details.get("drift").is_none());
    assert!(fx.messages().await.is_empty(), "none of it is drift");
}

#[tokio::test]
async fn stops_run_concurrently_never_more_in_flight_than_configured() {
    let proxy = InFlight::start(std::time::Duration::from_millis(40)).await;
    let fx = Fx::through("", &[("AWS_CONCURRENCY", "3")], Some(&proxy.url)).await;
    for i in 0..12 {
        fx.db(&format!("db-{i:02}"), DEV).await;
    }
    let night = fx.act(Action::Reconcile, NIGHT, false).await;
    assert_eq!(night.totals.changed, 12, "{night:#?}");
    let most = proxy.max_of("StopDBInstance");
    assert!(
        (2..=3).contains(&most),
        "stops overlap, at most AWS_CONCURRENCY=3 at once: {most}"
    );
    let morning = fx.act(Action::Reconcile, MORNING, false).await;
    assert_eq!(morning.totals.changed, 12, "{morning:#?}");
    assert!((2..=3).contains(&proxy.max_of("StartDBInstance")));
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
    // The periodic run has seen Friday's transition before RDS starts the cluster by itself.
    fx.invoke(json!({"action": "reconcile", "at": "2026-12-05T11:00:00Z"}))
        .await;
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
        assert_invalid_input(err, needle);
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

#[tokio::test]
async fn a_failure_over_eight_runs_is_said_once_again_a_day_later_and_once_when_it_clears() {
    // GIVEN a dev database whose schedule tag names no schedule: every run fails on it, the same way.
    let fx = Fx::new("").await;
    fx.db(
        "typo-db",
        &[("env", "dev"), ("caretaker/schedule", "office-hourz")],
    )
    .await;
    let start: chrono::DateTime<chrono::Utc> = NIGHT.parse().unwrap();
    let reconcile = |at: chrono::DateTime<chrono::Utc>| serde_json::json!({"action": "reconcile", "at": at.to_rfc3339()});
    // WHEN the periodic run meets it 8 times, 15 minutes apart
    let mut told = Vec::new();
    for i in 0..8 {
        let r = fx
            .invoke(reconcile(start + chrono::Duration::minutes(15 * i)))
            .await;
        assert_eq!(r.totals.failed, 1, "{r:?}");
        let db = r.resources.iter().find(|x| x.id == "typo-db").unwrap();
        told.push(db.details["told"].as_str().unwrap().to_owned());
    }
    // THEN it is said once, when it starts
    let msgs = fx.messages().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].contains("typo-db") && msgs[0].contains("office-hourz"),
        "{}",
        msgs[0]
    );
    assert_eq!(told[0], "first");
    assert!(told[1..].iter().all(|t| t == "quiet"), "{told:?}");
    // a day later, still failing: said again, with since when
    fx.invoke(reconcile(
        start + chrono::Duration::hours(24) + chrono::Duration::minutes(15),
    ))
    .await;
    let msgs = fx.messages().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("still failing, since"), "{}", msgs[0]);
    // fixed by a person: said once that it works again, then nothing
    let arn = format!("arn:aws:rds:us-east-1:{}:db:typo-db", fx.dev);
    fx.rds()
        .add_tags_to_resource()
        .resource_name(&arn)
        .tags(
            Tag::builder()
                .key("caretaker/schedule")
                .value("office-hours")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let later = start + chrono::Duration::hours(24) + chrono::Duration::minutes(30);
    let r = fx.invoke(reconcile(later)).await;
    assert_eq!(r.totals.failed, 0, "{r:?}");
    let msgs = fx.messages().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].contains("failures cleared") && msgs[0].contains("works again"),
        "{}",
        msgs[0]
    );
    fx.invoke(reconcile(later + chrono::Duration::minutes(15)))
        .await;
    assert_eq!(fx.messages().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_budget_shutdown_at_two_in_the_afternoon_holds_dev_down_through_the_morning_until_a_startup()
 {
    // GIVEN dev up at 14:00 on a Tuesday, one database kept up by a tag set before the request
    let fx = Fx::new("").await;
    fx.db("app-dev-db", DEV).await;
    fx.db(
        "demo-db",
        &[
            ("env", "dev"),
            ("caretaker/schedule", "office-hours"),
            ("caretaker/keep-up-until", "2026-12-05"),
        ],
    )
    .await;
    fx.act(Action::Reconcile, "2026-12-01T13:45:00Z", false)
        .await;
    // WHEN budget-guard asks for a shutdown at 14:00
    let forced = run(
        &fx.deps,
        &Request {
            action: Action::Shutdown,
            dry_run: false,
            at: Some("2026-12-01T14:00:00Z".parse().unwrap()),
            account: Some(fx.dev.clone()),
            budget_reason: Some("innovate-dev-monthly: forecast $436.90 of $400.00".into()),
            fan_out: false,
            reports: Vec::new(),
        },
    )
    .await;
    // THEN everything goes down, the keep-up tag set before the request included
    assert_eq!(outcome(&forced, "app-dev-db"), &Outcome::changed("stopped"));
    assert_eq!(outcome(&forced, "demo-db"), &Outcome::changed("stopped"));
    // and it holds through the next morning's 07:00 (and its warm-up), saying who asked and how to lift it
    for at in [
        "2026-12-01T20:15:00Z",
        "2026-12-02T06:45:00Z",
        "2026-12-02T07:00:00Z",
        "2026-12-02T11:00:00Z",
    ] {
        let r = fx.act(Action::Reconcile, at, false).await;
        assert_eq!(r.totals.changed, 0, "{at}: {r:#?}");
        let db = r.resources.iter().find(|x| x.id == "app-dev-db").unwrap();
        let why = db.details["why"].as_str().unwrap();
        assert!(
            why.contains("budget-guard's shutdown")
                && why.contains("forecast $436.90")
                && why.contains("\"startup\"")
                && why.contains("2027-01-01"),
            "{why}"
        );
    }
    assert_eq!(fx.db_status("app-dev-db").await, "stopped");
    // a keep-up-until set after the request brings that one database up, and only it
    let arn = format!("arn:aws:rds:us-east-1:{}:db:demo-db", fx.dev);
    fx.rds()
        .add_tags_to_resource()
        .resource_name(&arn)
        .tags(
            Tag::builder()
                .key("caretaker/keep-up-until")
                .value("2026-12-04")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = fx
        .act(Action::Reconcile, "2026-12-02T11:15:00Z", false)
        .await;
    assert_eq!(outcome(&r, "demo-db"), &Outcome::changed("started"));
    assert_eq!(outcome(&r, "app-dev-db"), &Outcome::Unchanged);
    // a person's startup lifts it for everything; the schedule rules again
    fx.act(Action::Startup, "2026-12-02T11:30:00Z", false).await;
    assert_eq!(fx.db_status("app-dev-db").await, "available");
    let r = fx
        .act(Action::Reconcile, "2026-12-02T11:45:00Z", false)
        .await;
    assert_eq!(r.totals.changed, 0, "{r:#?}");
    let db = r.resources.iter().find(|x| x.id == "app-dev-db").unwrap();
    assert!(
        db.details["why"].as_str().unwrap().starts_with("held up")
            || db.details["why"].as_str().unwrap().starts_with("within")
    );
}

#[tokio::test]
async fn a_keep_up_further_than_max_keep_up_days_is_refused_and_said() {
    let fx = Fx::new("").await;
    fx.db(
        "forever-db",
        &[
            ("env", "dev"),
            ("caretaker/schedule", "office-hours"),
            ("caretaker/keep-up-until", "2027-06-30"),
        ],
    )
    .await;
    let r = fx.invoke(json!({"action": "reconcile", "at": NIGHT})).await;
    let o = outcome(&r, "forever-db");
    assert!(
        matches!(o, Outcome::Failed { error } if error.contains("more than 14 days ahead (MAX_KEEP_UP_DAYS)")),
        "{o:?}"
    );
    assert_eq!(fx.db_status("forever-db").await, "available");
    let msgs = fx.messages().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("MAX_KEEP_UP_DAYS"), "{}", msgs[0]);
}
