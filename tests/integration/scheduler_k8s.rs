//! dev-scheduler's Kubernetes part: workloads in the stand-in API server (TLS with the local CA,
//! EKS token checked), the cluster and its node groups and databases in moto.

use std::collections::BTreeSet;

use caretaker_shared::report::{Outcome, RunReport};
use caretaker_tests::kube_standin::token_shape_ok;
use dev_scheduler::domain::{ANN_REPLICAS, ANN_SUSPENDED, Action};
use serde_json::json;

use crate::scheduler::{DEV, Fx, MORNING, NIGHT, outcome};

const OPT_IN: &[(&str, &str)] = &[("caretaker/schedule", "office-hours")];
const DEP: &str = "deployments";

fn kinds(r: &RunReport) -> Vec<&str> {
    let mut k: Vec<&str> = r.resources.iter().map(|x| x.kind.as_str()).collect();
    k.dedup();
    k
}

fn ids(r: &RunReport) -> Vec<&str> {
    r.resources.iter().map(|x| x.id.as_str()).collect()
}

async fn dev_cluster_node_group_and_database(fx: &Fx) {
    fx.db("app-dev-db", DEV).await;
    fx.cluster(
        "innovate-dev",
        &[("env", "dev")],
        &[("addons", 2, 3, 2, DEV)],
    )
    .await;
}

/// The estate of the round-trip test: an opted-in namespace with every kind, a namespace that
/// is not opted in but holds one opted-in workload, and kube-system left alone.
fn seed(fx: &Fx) {
    let k = &fx.kube;
    k.namespace("app", OPT_IN, &[]);
    k.namespace("tools", &[], &[]);
    k.namespace("kube-system", &[], &[]);
    k.deployment("app", "web", 3, &[], &[]);
    k.deployment("app", "api", 2, &[], &[]);
    k.hpa("app", "api", "Deployment", "api", 2, 6);
    k.statefulset("app", "cache", 1, &[]);
    k.cronjob("app", "report", false, &[]);
    k.cronjob("app", "paused", true, &[]);
    k.deployment("app", "pinned", 3, &[("caretaker/schedule", "none")], &[]);
    k.deployment("app", "sidecar", 1, &[], &[("caretaker/exclude", "true")]);
    k.deployment("tools", "grafana", 1, OPT_IN, &[]);
    k.deployment(
        "app",
        "demo",
        2,
        &[("caretaker/keep-up-until", "2026-11-30T23:00:00Z")],
        &[],
    );
    k.deployment("tools", "loki", 1, &[], &[]);
    k.deployment("kube-system", "coredns", 2, &[], &[]);
}

#[tokio::test]
async fn workloads_round_trip_to_exact_replicas_in_order_and_a_second_shutdown_changes_nothing() {
    let logs = crate::support::captured_logs();
    let fx = Fx::new("").await;
    dev_cluster_node_group_and_database(&fx).await;
    seed(&fx);
    let k = &fx.kube;

    let night = fx.invoke(json!({"action": "shutdown", "at": NIGHT})).await;
    assert_eq!(night.totals.failed, 0, "{night:#?}");
    assert!(
        fx.messages().await.is_empty(),
        "a routine night notifies nobody"
    );
    assert_eq!(
        kinds(&night),
        [
            "k8s-deployment",
            "k8s-statefulset",
            "k8s-cronjob",
            "eks-nodegroup",
            "rds-instance"
        ],
        "night: workloads, node groups, databases"
    );
    let listed = ids(&night);
    assert!(
        !listed
            .iter()
            .any(|i| i.contains("coredns") || i.contains("loki") || i.contains("sidecar")),
        "not opted in or excluded by label: not even reported: {listed:?}"
    );
    for (ns, name, was) in [
        ("app", "web", "3"),
        ("app", "api", "2"),
        ("tools", "grafana", "1"),
    ] {
        assert_eq!(k.replicas(DEP, ns, name), Some(0), "{name}");
        assert_eq!(
            k.annotation(DEP, ns, name, ANN_REPLICAS).as_deref(),
            Some(was)
        );
    }
    assert_eq!(k.replicas("statefulsets", "app", "cache"), Some(0));
    assert_eq!(
        k.annotation("statefulsets", "app", "cache", ANN_REPLICAS)
            .as_deref(),
        Some("1")
    );
    assert_eq!(k.suspended("app", "report"), Some(true));
    assert_eq!(k.suspended("app", "paused"), Some(true));
    assert_eq!(
        k.annotation("cronjobs", "app", "paused", ANN_SUSPENDED),
        None,
        "suspended by its owner, not by caretaker"
    );
    assert!(matches!(
        outcome(&night, "innovate-dev/app/pinned"),
        Outcome::Skipped { reason } if reason.contains("excluded")
    ));
    assert_eq!(k.replicas(DEP, "app", "pinned"), Some(3));
    let demo = night
        .resources
        .iter()
        .find(|r| r.id == "innovate-dev/app/demo")
        .unwrap();
    assert_eq!(
        (&demo.outcome, &demo.details["desired"]),
        (&Outcome::Unchanged, &json!("up")),
        "kept up tonight by its annotation"
    );
    assert_eq!(k.replicas(DEP, "app", "demo"), Some(2));
    assert_eq!(k.replicas(DEP, "kube-system", "coredns"), Some(2));
    assert_eq!(k.replicas(DEP, "app", "sidecar"), Some(1));
    let requests = k.requests();
    assert!(
        requests.contains(&"PATCH /apis/apps/v1/namespaces/app/deployments/web/scale".to_owned()),
        "replicas go through the scale subresource: {requests:?}"
    );
    assert_eq!(
        k.rejected_tokens(),
        0,
        "every request carried a valid EKS token"
    );

    // Shutdown twice: nothing is patched, and the remembered counts are not overwritten by zero.
    k.reset_requests();
    let again = fx.act(Action::Shutdown, NIGHT, false).await;
    assert_eq!(again.totals.changed, 0, "{again:#?}");
    assert_eq!(k.mutations(), 0, "{:?}", k.requests());
    assert_eq!(
        k.annotation(DEP, "app", "web", ANN_REPLICAS).as_deref(),
        Some("3")
    );

    // Overnight the team raised the HPA's minimum: the morning count respects it.
    k.hpa("app", "api", "Deployment", "api", 4, 6);
    let morning = fx.act(Action::Startup, MORNING, false).await;
    assert_eq!(morning.totals.failed, 0, "{morning:#?}");
    assert_eq!(
        kinds(&morning),
        [
            "rds-instance",
            "eks-nodegroup",
            "k8s-deployment",
            "k8s-statefulset",
            "k8s-cronjob"
        ],
        "morning: databases, node groups, workloads"
    );
    for (ns, name, back) in [
        ("app", "web", 3),
        ("app", "api", 4),
        ("tools", "grafana", 1),
    ] {
        assert_eq!(k.replicas(DEP, ns, name), Some(back), "{name}");
        assert_eq!(k.annotation(DEP, ns, name, ANN_REPLICAS), None, "{name}");
    }
    assert_eq!(k.replicas("statefulsets", "app", "cache"), Some(1));
    assert_eq!(k.suspended("app", "report"), Some(false));
    assert_eq!(
        k.suspended("app", "paused"),
        Some(true),
        "still its owner's"
    );
    assert_eq!(
        morning
            .resources
            .iter()
            .find(|r| r.id == "innovate-dev/app/api")
            .unwrap()
            .details["hpa"],
        "api (4..6)"
    );
    assert_eq!(fx.sizes("innovate-dev", "addons").await, (2, 3, 2));
    assert_eq!(fx.db_status("app-dev-db").await, "available");

    // The EKS token is a bearer credential (a presigned URL good for minutes): never logged,
    // even at TRACE, which this test binary records.
    let text = logs.text();
    assert!(
        text.contains("/apis/apps/v1"),
        "the Kubernetes client's requests are traced"
    );
    assert!(
        !text.contains("k8s-aws-v1.") && !text.contains("X-Amz-Signature"),
        "no token in the logs"
    );

    // Startup again (no prior shutdown): nothing to do.
    k.reset_requests();
    let twice = fx.act(Action::Startup, MORNING, false).await;
    assert_eq!(twice.totals.changed, 0, "{twice:#?}");
    assert_eq!(k.mutations(), 0);
}

/// (apiGroup, resource[/subresource], verb) of each API request the stand-in saw.
fn permissions(requests: &[String]) -> BTreeSet<(String, String, String)> {
    requests
        .iter()
        .map(|r| {
            let (method, path) = r.split_once(' ').unwrap();
            let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
            let (group, rest) = match segs[0] {
                "api" => ("", &segs[2..]),
                _ => (segs[1], &segs[3..]),
            };
            let (resource, named) = match rest {
                [plural] => (plural.to_string(), false),
                ["namespaces", _, plural, _] => (plural.to_string(), true),
                ["namespaces", _, plural, _, sub] => (format!("{plural}/{sub}"), true),
                other => panic!("unexpected path {other:?}"),
            };
            let verb = match (method, named) {
                ("GET", false) => "list",
                ("GET", true) => "get",
                ("PATCH", _) => "patch",
                _ => panic!("unexpected request {r}"),
            };
            (group.to_owned(), resource, verb.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_rbac_manifest_grants_exactly_the_calls_the_scheduler_makes() {
    let fx = Fx::new("").await;
    fx.cluster("innovate-dev", &[("env", "dev")], &[]).await;
    seed(&fx);
    for (action, at) in [
        (Action::Shutdown, NIGHT),
        (Action::Startup, MORNING),
        (Action::Status, NIGHT),
    ] {
        let r = fx.act(action, at, false).await;
        assert_eq!(r.totals.failed, 0, "{r:#?}");
    }
    // A workload left with a stale annotation exercises the remaining patch.
    fx.kube
        .deployment("app", "web", 3, &[(ANN_REPLICAS, "3")], &[]);
    fx.act(Action::Startup, MORNING, false).await;
    let used = permissions(&fx.kube.requests());

    let docs: Vec<serde_yaml_ng::Value> =
        serde_yaml_ng::Deserializer::from_str(include_str!("../../deploy/kubernetes-rbac.yaml"))
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
    let role = docs.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    let strings = |v: &serde_yaml_ng::Value| -> Vec<String> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_sequence().unwrap() {
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    granted.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    assert_eq!(
        used, granted,
        "every call is allowed and every rule is used (least privilege)"
    );
    let binding = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .unwrap();
    assert_eq!(binding["subjects"][0]["name"], "caretaker-dev-scheduler");
    for template in [
        include_str!("../../template.yaml"),
        include_str!("../../deploy/spoke.yaml"),
    ] {
        assert!(
            template.contains("- caretaker-dev-scheduler"),
            "the access entry maps the role to the bound group"
        );
    }
}

#[tokio::test]
async fn prod_is_refused_one_failing_workload_does_not_stop_the_others_and_dry_run_patches_nothing()
{
    let fx = Fx::new("").await;
    fx.cluster("innovate-dev", &[("env", "dev")], &[]).await;
    fx.cluster("innovate-prod", &[("env", "prod")], &[]).await;
    let k = &fx.kube;
    k.namespace("app", OPT_IN, &[]);
    k.namespace("payments", OPT_IN, &[("env", "prod")]);
    k.deployment("app", "web", 2, &[], &[]);
    k.deployment("app", "broken", 2, &[], &[]);
    k.deployment("app", "worker", 1, &[], &[]);
    k.deployment(
        "app",
        "odd",
        1,
        &[("caretaker/schedule", "Mon-Fri 7-20 Mars/Olympus")],
        &[],
    );
    k.deployment("payments", "api", 2, &[], &[]);
    k.fail_patches(DEP, "app", "broken");

    let dry = fx
        .invoke(json!({"action": "shutdown", "at": NIGHT, "dryRun": true}))
        .await;
    assert!(dry.dry_run);
    assert!(fx.messages().await.is_empty(), "a dry run notifies nobody");
    assert_eq!(
        outcome(&dry, "innovate-dev/app/web"),
        &Outcome::changed("scale to 0 (remember 2)")
    );
    assert_eq!(k.mutations(), 0, "dry run: {:?}", k.requests());

    k.reset_requests();
    let r = fx.invoke(json!({"action": "shutdown", "at": NIGHT})).await;
    let msgs = fx.messages().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].contains("dev-scheduler shutdown: 2 of")
            && msgs[0].contains("innovate-dev/app/broken")
            && msgs[0].contains("injected failure")
            && msgs[0].contains("innovate-dev/app/odd")
            && msgs[0].contains("the next periodic run retries"),
        "{}",
        msgs[0]
    );
    assert!(
        matches!(outcome(&r, "innovate-prod"), Outcome::Skipped { reason } if reason.contains("env=prod")),
        "{r:#?}"
    );
    let lists = k.requests().iter().filter(|q| q.starts_with("GET")).count();
    assert_eq!(
        lists,
        5,
        "only the dev cluster's API was listed: {:?}",
        k.requests()
    );
    assert!(
        matches!(outcome(&r, "innovate-dev/payments/api"), Outcome::Skipped { reason } if reason.contains("env=prod"))
    );
    assert_eq!(k.replicas(DEP, "payments", "api"), Some(2));
    assert!(
        matches!(outcome(&r, "innovate-dev/app/broken"), Outcome::Failed { error } if error.contains("injected failure")),
        "{r:#?}"
    );
    assert!(
        matches!(outcome(&r, "innovate-dev/app/odd"), Outcome::Failed { error } if error.contains("caretaker/schedule"))
    );
    assert_eq!(k.replicas(DEP, "app", "odd"), Some(1));
    assert_eq!(k.replicas(DEP, "app", "broken"), Some(2));
    assert_eq!(k.replicas(DEP, "app", "web"), Some(0));
    assert_eq!(k.replicas(DEP, "app", "worker"), Some(0));

    // Someone scales web back up by hand at night: the hourly reconcile takes it down again and
    // says so.
    k.deployment("app", "web", 2, &[(ANN_REPLICAS, "2")], &[]);
    let rec = fx
        .invoke(json!({"action": "reconcile", "at": "2026-11-30T23:00:00Z"}))
        .await;
    let msgs = fx.messages().await;
    assert!(
        msgs.len() == 1
            && msgs[0].contains("innovate-dev/app/web")
            && msgs[0].contains("scaled to 0"),
        "the corrected drift is told: {msgs:?}"
    );
    let web = rec
        .resources
        .iter()
        .find(|x| x.id == "innovate-dev/app/web")
        .unwrap();
    assert_eq!(web.outcome, Outcome::changed("scaled to 0 (remembered 2)"));
    assert_eq!(web.details["drift"], true);
    assert_eq!(k.replicas(DEP, "app", "web"), Some(0));
}

#[tokio::test]
async fn an_unreachable_or_untrusted_kubernetes_api_is_reported_and_the_rest_still_runs() {
    let other_ca = crate::support::stack_var("CARETAKER_PG_OTHER_CA");
    let fx = Fx::with("", &[("KUBE_CA_FILE", &other_ca)]).await;
    dev_cluster_node_group_and_database(&fx).await;
    fx.kube.namespace("app", OPT_IN, &[]);
    fx.kube.deployment("app", "web", 2, &[], &[]);
    let r = fx.act(Action::Shutdown, NIGHT, false).await;
    assert!(
        matches!(outcome(&r, "innovate-dev"), Outcome::Failed { error } if error.contains("Kubernetes API") && error.to_lowercase().contains("certificate")),
        "{r:#?}"
    );
    assert_eq!(
        fx.kube.requests().len(),
        0,
        "no request reached a server it does not trust"
    );
    assert_eq!(fx.kube.replicas(DEP, "app", "web"), Some(2));
    assert_eq!(fx.sizes("innovate-dev", "addons").await, (0, 3, 0));
    assert_eq!(fx.db_status("app-dev-db").await, "stopped");
}

#[test]
fn the_stand_in_accepts_what_eks_accepts_and_nothing_else() {
    let creds = aws_credential_types::Credentials::new("AKID", "secret", None, None, "t");
    let token = dev_scheduler::eks_token::token(
        "innovate-dev",
        "us-east-1",
        &creds,
        std::time::SystemTime::now(),
    )
    .unwrap();
    assert!(token_shape_ok(Some(&format!("Bearer {token}"))));
    assert!(!token_shape_ok(None));
    assert!(!token_shape_ok(Some("Bearer k8s-aws-v1.bm90LWEtdXJs")));
    assert!(!token_shape_ok(Some(&format!("Basic {token}"))));
}

/// Someone scales a workload from 3 to 5 between the scheduler's annotation patch and its scale
/// patch: the scale patch carries the version the annotation patch produced, so it is refused
/// (409) and their 5 stands; the next run remembers 5, and the morning restores 5.
#[tokio::test]
async fn a_person_scaling_between_the_two_patches_is_never_overwritten() {
    let fx = Fx::new("").await;
    fx.cluster("innovate-dev", &[("env", "dev")], &[]).await;
    let k = &fx.kube;
    k.namespace("app", OPT_IN, &[]);
    k.deployment("app", "web", 3, &[], &[]);
    k.scale_after_next_patch(DEP, "app", "web", 5);
    let night = fx.act(Action::Shutdown, NIGHT, false).await;
    assert!(
        matches!(outcome(&night, "innovate-dev/app/web"), Outcome::Skipped { reason } if reason.contains("next run")),
        "{night:#?}"
    );
    assert_eq!(
        k.replicas(DEP, "app", "web"),
        Some(5),
        "their change stands"
    );
    let again = fx.act(Action::Shutdown, NIGHT, false).await;
    assert!(
        matches!(outcome(&again, "innovate-dev/app/web"), Outcome::Changed { action } if action.contains("remembered 5")),
        "{again:#?}"
    );
    assert_eq!(k.replicas(DEP, "app", "web"), Some(0));
    fx.act(Action::Startup, MORNING, false).await;
    assert_eq!(
        k.replicas(DEP, "app", "web"),
        Some(5),
        "the morning restores their 5"
    );
}

/// A workload scaled up by hand at night (after the shutdown remembered its day count of 3) is
/// drift: put back to 0 and notified, and the morning restores the day's 3, not the night's 2.
#[tokio::test]
async fn a_night_time_scale_up_by_hand_never_overwrites_the_day_count() {
    let fx = Fx::new("").await;
    fx.cluster("innovate-dev", &[("env", "dev")], &[]).await;
    let k = &fx.kube;
    k.namespace("app", OPT_IN, &[]);
    k.deployment("app", "web", 3, &[], &[]);
    fx.act(Action::Shutdown, NIGHT, false).await;
    assert_eq!(
        k.annotation(DEP, "app", "web", ANN_REPLICAS).as_deref(),
        Some("3")
    );
    // Someone scales it to 2 at night: the annotation written at nightfall is still on it.
    k.deployment("app", "web", 2, &[(ANN_REPLICAS, "3")], &[]);
    let rec = fx
        .invoke(json!({"action": "reconcile", "at": "2026-11-30T23:00:00Z"}))
        .await;
    assert_eq!(
        outcome(&rec, "innovate-dev/app/web"),
        &Outcome::changed("scaled to 0 (remembered 3)"),
        "{rec:#?}"
    );
    assert_eq!(k.replicas(DEP, "app", "web"), Some(0));
    assert_eq!(fx.messages().await.len(), 1, "drift is told");
    fx.act(Action::Startup, MORNING, false).await;
    assert_eq!(k.replicas(DEP, "app", "web"), Some(3), "the day count wins");
}

/// The dev cluster, its node group and database, and an opted-in namespace `app` (a Deployment
/// `web` of 3, a CronJob `report`) that needs the database and the node group.
async fn app_that_needs_its_database() -> Fx {
    let fx = Fx::new("").await;
    dev_cluster_node_group_and_database(&fx).await;
    fx.kube.namespace(
        "app",
        &[
            ("caretaker/schedule", "office-hours"),
            (
                "caretaker/needs",
                "rds:app-dev-db, nodegroup:innovate-dev/addons",
            ),
        ],
        &[],
    );
    fx.kube.deployment("app", "web", 3, &[], &[]);
    fx.kube.cronjob("app", "report", false, &[]);
    fx
}

#[tokio::test]
async fn a_scheduled_morning_warms_up_databases_and_nodes_then_brings_workloads_once_the_database_is_available()
 {
    // GIVEN dev down for the night: the database stopped, the node group at zero, the app's
    // workloads at zero, and the namespace declaring that it needs the database.
    let fx = app_that_needs_its_database().await;
    let k = &fx.kube;
    let night = fx
        .invoke(json!({"action": "reconcile", "at": "2026-11-30T20:00:00Z"}))
        .await;
    assert_eq!(night.totals.failed, 0, "{night:#?}");
    assert_eq!(fx.db_status("app-dev-db").await, "stopped");
    let night_order: Vec<&str> = night.resources.iter().map(|r| r.kind.as_str()).collect();
    let first = |kind: &str| night_order.iter().position(|k| *k == kind).unwrap();
    assert!(
        first("k8s-deployment") < first("eks-nodegroup")
            && first("eks-nodegroup") < first("rds-instance")
    );

    // WHEN the periodic run comes at 06:45 (15 minutes ahead of 07:00)
    let early = fx
        .invoke(json!({"action": "reconcile", "at": "2026-12-01T06:45:00Z"}))
        .await;
    // THEN databases then node groups start, ahead of the workloads, which keep their night
    let order: Vec<&str> = early.resources.iter().map(|r| r.kind.as_str()).collect();
    let first = |kind: &str| order.iter().position(|k| *k == kind).unwrap();
    assert!(
        first("rds-instance") < first("eks-nodegroup")
            && first("eks-nodegroup") < first("k8s-deployment")
    );
    assert_eq!(outcome(&early, "app-dev-db"), &Outcome::changed("started"));
    let db = early
        .resources
        .iter()
        .find(|r| r.id == "app-dev-db")
        .unwrap();
    assert!(
        db.details["why"]
            .as_str()
            .unwrap()
            .contains("warming up 15 min ahead"),
        "{db:?}"
    );
    assert!(matches!(
        outcome(&early, "innovate-dev/addons"),
        Outcome::Changed { .. }
    ));
    assert_eq!(outcome(&early, "innovate-dev/app/web"), &Outcome::Unchanged);
    assert_eq!(k.replicas(DEP, "app", "web"), Some(0));
    // the 07:00 run finds the database available and the nodes up: the workloads follow,
    // routine (no drift, nobody told)
    let seven = fx
        .invoke(json!({"action": "reconcile", "at": "2026-12-01T07:00:00Z"}))
        .await;
    assert_eq!(seven.totals.failed, 0, "{seven:#?}");
    assert_eq!(k.replicas(DEP, "app", "web"), Some(3));
    assert_eq!(k.suspended("app", "report"), Some(false));
    assert!(
        !seven
            .resources
            .iter()
            .any(|r| r.details.get("drift").is_some()),
        "{seven:#?}"
    );
    // and one message says dev is ready, with when each layer was; the next run says nothing
    let msgs = fx.messages().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].contains("dev ready at 07:00 UTC")
            && msgs[0].contains("Databases: ready by 07:00 UTC")
            && msgs[0].contains("2 up by 07:00 UTC"),
        "{}",
        msgs[0]
    );
    fx.invoke(json!({"action": "reconcile", "at": "2026-12-01T07:15:00Z"}))
        .await;
    assert!(fx.messages().await.is_empty());
}

#[tokio::test]
async fn workloads_coming_up_wait_for_the_database_their_namespace_needs_and_say_so() {
    // GIVEN dev down for the night, the namespace needing the database and the node group
    let fx = app_that_needs_its_database().await;
    let k = &fx.kube;
    fx.invoke(json!({"action": "reconcile", "at": NIGHT})).await;
    assert_eq!(k.replicas(DEP, "app", "web"), Some(0));
    // WHEN someone brings dev up at night: the database and the nodes start in this very run
    let up = fx
        .invoke(json!({"action": "startup", "at": "2026-12-01T02:00:00Z"}))
        .await;
    // THEN the workloads wait for them, and the report says for what
    for id in ["innovate-dev/app/web", "innovate-dev/app/report"] {
        let o = outcome(&up, id);
        assert!(
            matches!(o, Outcome::Skipped { reason } if reason.contains("waiting for rds:app-dev-db (starting)")
                && reason.contains("nodegroup:innovate-dev/addons (UPDATING)")),
            "{id}: {o:?}"
        );
    }
    assert_eq!(k.replicas(DEP, "app", "web"), Some(0));
    assert_eq!(k.suspended("app", "report"), Some(true));
    // the next periodic run (the startup holds dev up) finds them ready: the workloads follow
    let next = fx
        .invoke(json!({"action": "reconcile", "at": "2026-12-01T02:15:00Z"}))
        .await;
    assert_eq!(next.totals.failed, 0, "{next:#?}");
    assert_eq!(k.replicas(DEP, "app", "web"), Some(3));
    assert_eq!(k.suspended("app", "report"), Some(false));
}
