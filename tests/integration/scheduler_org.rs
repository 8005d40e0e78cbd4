//! dev-scheduler over an AWS Organization: the accounts of an OU and its child OUs (ACTIVE only),
//! minus the excluded, found once and cached; an account that joined without its spoke said once
//! (not failed every run); a prod resource in a dev OU still refused; one broken account neither
//! failing nor delaying the others. moto's Organizations in the test's management account; its
//! accounts reached by role assumption through a proxy that can refuse it, as AWS does for a role
//! that does not exist.

use std::time::Duration;

use aws_sdk_organizations::Client as Org;
use caretaker_shared::report::{Outcome, RunReport};
use dev_scheduler::domain::Action;

use crate::scheduler::{Fx, NIGHT};
use crate::support::*;

struct OrgFx {
    fx: Fx,
    proxy: InFlight,
    org: Org,
    root: String,
    /// The dev OU and its child.
    dev_ou: String,
    team_ou: String,
}

async fn account_in(org: &Org, name: &str, parent: &str, root: &str) -> String {
    let status = org
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap()
        .create_account_status
        .unwrap();
    let id = status.account_id.unwrap();
    org.move_account()
        .account_id(&id)
        .source_parent_id(root)
        .destination_parent_id(parent)
        .send()
        .await
        .unwrap();
    id
}

/// A database tagged for office hours in `account`.
async fn db_in(account: &str, id: &str, env: &str) {
    let tags = [("env", env), ("caretaker/schedule", "office-hours")];
    rds_instance(&config_in(account).await, id, &tags).await;
}

async fn db_status(account: &str, id: &str) -> String {
    rds_status(&config_in(account).await, id).await
}

impl OrgFx {
    /// An organization in a fresh management account: root → dev OU → team OU.
    async fn new(extra: &[(&str, &str)], delay: Duration) -> (OrgFx, Vec<(String, String)>) {
        let proxy = InFlight::start(delay).await;
        // The management account's organization, made before the scheduler's config names it.
        let home = fresh_account();
        let (org, root) = organization(&config_in(&home).await).await;
        let dev_ou = organizational_unit(&org, &root, "dev").await;
        let team_ou = organizational_unit(&org, &dev_ou, "team-a").await;
        let mut vars: Vec<(String, String)> = vec![
            ("ALLOWED_ACCOUNTS".into(), String::new()),
            ("DEV_ACCOUNTS_OU".into(), dev_ou.clone()),
        ];
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let fx = Fx::through_home(&home, "", &refs, Some(&proxy.url)).await;
        (
            OrgFx {
                fx,
                proxy,
                org,
                root,
                dev_ou,
                team_ou,
            },
            vars,
        )
    }

    async fn night(&self) -> RunReport {
        self.fx.act(Action::Reconcile, NIGHT, false).await
    }
}

fn entry<'a>(
    r: &'a RunReport,
    kind: &str,
    id: &str,
) -> Option<&'a caretaker_shared::report::ResourceResult> {
    r.resources.iter().find(|e| e.kind == kind && e.id == id)
}

#[tokio::test]
async fn accounts_come_from_the_ou_and_its_children_active_only_minus_the_excluded() {
    let (o, _) = OrgFx::new(&[], Duration::ZERO).await;
    let a1 = account_in(&o.org, "dev-one", &o.dev_ou, &o.root).await;
    let a2 = account_in(&o.org, "team-a-one", &o.team_ou, &o.root).await;
    let closed = account_in(&o.org, "team-a-gone", &o.team_ou, &o.root).await;
    let outside = account_in(&o.org, "sandbox", &o.root, &o.root).await;
    o.org
        .close_account()
        .account_id(&closed)
        .send()
        .await
        .unwrap();
    for a in [&a1, &a2, &closed, &outside] {
        db_in(a, "app-db", "dev").await;
    }
    let r = o.night().await;
    assert_eq!(r.totals.failed, 0, "{:?}", r.resources);
    assert_eq!(db_status(&a1, "app-db").await, "stopped", "in the OU");
    assert_eq!(db_status(&a2, "app-db").await, "stopped", "in a child OU");
    assert_eq!(
        db_status(&closed, "app-db").await,
        "available",
        "suspended: skipped"
    );
    assert_eq!(
        db_status(&outside, "app-db").await,
        "available",
        "not in the OU"
    );
    let acted: std::collections::BTreeSet<&str> = r
        .resources
        .iter()
        .filter_map(|e| e.account.as_deref())
        .collect();
    assert!(acted.contains(a1.as_str()) && acted.contains(a2.as_str()));
    assert!(!acted.contains(closed.as_str()) && !acted.contains(outside.as_str()));
}

#[tokio::test]
async fn an_excluded_account_and_a_prod_resource_in_a_dev_ou_are_left_alone() {
    let (o, _) = OrgFx::new(&[], Duration::ZERO).await;
    let kept = account_in(&o.org, "dev-kept", &o.dev_ou, &o.root).await;
    let excluded = account_in(&o.org, "dev-excluded", &o.dev_ou, &o.root).await;
    db_in(&kept, "app-db", "dev").await;
    db_in(&kept, "billing-db", "prod").await;
    db_in(&excluded, "app-db", "dev").await;
    let vars = [
        ("ALLOWED_ACCOUNTS", ""),
        ("DEV_ACCOUNTS_OU", o.dev_ou.as_str()),
        ("EXCLUDED_ACCOUNTS", excluded.as_str()),
    ];
    let fx = Fx::through_home(&o.fx.home_account, "", &vars, Some(&o.proxy.url)).await;
    let r = fx.act(Action::Reconcile, NIGHT, false).await;
    assert_eq!(db_status(&kept, "app-db").await, "stopped");
    assert_eq!(
        db_status(&excluded, "app-db").await,
        "available",
        "excluded"
    );
    assert_eq!(
        db_status(&kept, "billing-db").await,
        "available",
        "prod is refused"
    );
    let prod = entry(&r, "rds-instance", "billing-db").unwrap();
    assert!(
        matches!(&prod.outcome, Outcome::Skipped { reason } if reason.contains("prod")),
        "{prod:?}"
    );
}

#[tokio::test]
async fn an_account_that_joined_without_its_spoke_is_said_once_not_failed_every_run() {
    let (o, _) = OrgFx::new(&[], Duration::ZERO).await;
    let ready = account_in(&o.org, "dev-ready", &o.dev_ou, &o.root).await;
    let new = account_in(&o.org, "dev-new", &o.dev_ou, &o.root).await;
    db_in(&ready, "app-db", "dev").await;
    db_in(&new, "app-db", "dev").await;
    *o.proxy.deny_assume_into.lock().unwrap() = Some(new.clone());
    for (run, at) in [(1, NIGHT), (2, "2026-11-30T21:15:00Z")] {
        let r = o.fx.act(Action::Reconcile, at, false).await;
        assert_eq!(r.totals.failed, 0, "run {run}: {:?}", r.resources);
        let e = entry(&r, "account", &new).unwrap();
        assert!(
            matches!(&e.outcome, Outcome::Skipped { reason } if reason.contains("no spoke role") && reason.contains("deploy/spoke.yaml")),
            "{e:?}"
        );
    }
    assert_eq!(
        db_status(&ready, "app-db").await,
        "stopped",
        "the other account went on"
    );
    // Through the handler, as the schedule invokes it: the notice is sent once.
    let (o2, _) = OrgFx::new(&[], Duration::ZERO).await;
    let joined = account_in(&o2.org, "dev-joined", &o2.dev_ou, &o2.root).await;
    *o2.proxy.deny_assume_into.lock().unwrap() = Some(joined.clone());
    for at in [NIGHT, "2026-11-30T21:15:00Z", "2026-11-30T21:30:00Z"] {
        o2.fx
            .invoke(serde_json::json!({"action": "reconcile", "at": at}))
            .await;
    }
    let told = o2.fx.messages().await;
    let about: Vec<&String> = told.iter().filter(|m| m.contains(&joined)).collect();
    assert_eq!(about.len(), 1, "{told:?}");
    assert!(
        about[0].contains("without a Caretaker spoke"),
        "{}",
        about[0]
    );
    // The spoke is deployed: the next run acts there.
    *o2.proxy.deny_assume_into.lock().unwrap() = None;
    db_in(&joined, "app-db", "dev").await;
    o2.fx
        .invoke(serde_json::json!({"action": "reconcile", "at": "2026-11-30T21:45:00Z"}))
        .await;
    assert_eq!(db_status(&joined, "app-db").await, "stopped");
}

#[tokio::test]
async fn the_ou_listing_is_cached_for_an_hour() {
    let (o, _) = OrgFx::new(&[], Duration::ZERO).await;
    let a = account_in(&o.org, "dev-mover", &o.dev_ou, &o.root).await;
    db_in(&a, "app-db", "dev").await;
    o.fx.act(Action::Status, NIGHT, false).await;
    // It leaves the OU; within the hour the cached listing still has it, after it not.
    o.org
        .move_account()
        .account_id(&a)
        .source_parent_id(&o.dev_ou)
        .destination_parent_id(&o.root)
        .send()
        .await
        .unwrap();
    let cached =
        o.fx.act(Action::Status, "2026-11-30T21:30:00Z", false)
            .await;
    assert!(
        cached
            .resources
            .iter()
            .any(|e| e.account.as_deref() == Some(a.as_str()))
    );
    let later =
        o.fx.act(Action::Status, "2026-11-30T22:30:00Z", false)
            .await;
    assert!(
        !later
            .resources
            .iter()
            .any(|e| e.account.as_deref() == Some(a.as_str()))
    );
}

#[tokio::test]
async fn one_slow_account_times_out_alone_and_the_others_are_done() {
    // Every call takes 300 ms: an account whose run needs more than ACCOUNT_TIMEOUT_SECONDS (5)
    // is cut off; the accounts processed beside it finish.
    let (o, _) = OrgFx::new(
        &[("ACCOUNT_TIMEOUT_SECONDS", "5"), ("AWS_CONCURRENCY", "1")],
        Duration::from_millis(300),
    )
    .await;
    let slow = account_in(&o.org, "dev-slow", &o.dev_ou, &o.root).await;
    let quick = account_in(&o.org, "dev-quick", &o.dev_ou, &o.root).await;
    for i in 0..12 {
        db_in(&slow, &format!("db-{i}"), "dev").await;
    }
    db_in(&quick, "app-db", "dev").await;
    let started = std::time::Instant::now();
    let r = o.night().await;
    let took = started.elapsed();
    let cut = entry(&r, "account", &slow).unwrap_or_else(|| panic!("{:?}", r.resources));
    assert!(
        matches!(&cut.outcome, Outcome::Failed { error } if error.contains("took longer than 5 s")),
        "{cut:?}"
    );
    assert_eq!(db_status(&quick, "app-db").await, "stopped");
    assert!(
        took < Duration::from_secs(20),
        "bounded by the timeout: {took:?}"
    );
}

/// dev-scheduler in-process, as the state machine's Lambda tasks invoke it.
struct InProcessScheduler<'a>(&'a dev_scheduler::Deps);

#[async_trait::async_trait]
impl caretaker_tests::sfn_driver::Invoke for InProcessScheduler<'_> {
    async fn invoke(
        &self,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, caretaker_tests::sfn_driver::TaskError> {
        // The handler's future is not `Send` for every lifetime the trait asks of it: it runs
        // to completion here, on this worker (multi-threaded test runtime).
        let deps = self.0;
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(dev_scheduler::handler::handle(
                lambda_runtime::LambdaEvent::new(payload.into(), Default::default()),
                deps,
            ))
        })
        .map(|r| serde_json::to_value(r).unwrap())
        .map_err(|e| caretaker_tests::sfn_driver::TaskError {
            error: caretaker_shared::error::Classify::kind(&e)
                .as_str()
                .to_owned(),
            cause: caretaker_shared::error::chain(&e),
        })
    }
}

/// Three accounts in the dev OU: two databases each, one of them prod-tagged in the last.
async fn three_accounts(o: &OrgFx) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..3 {
        let a = account_in(&o.org, &format!("dev-{i}"), &o.dev_ou, &o.root).await;
        db_in(&a, "app-db", "dev").await;
        db_in(&a, "other-db", if i == 2 { "prod" } else { "dev" }).await;
        out.push(a);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fan_out_state_machine_gives_the_same_states_as_one_invocation() {
    let definition: serde_json::Value = serde_json::from_str(include_str!(
        "../../functions/dev-scheduler/fanout.asl.json"
    ))
    .unwrap();
    let (fanned, _) = OrgFx::new(&[], Duration::ZERO).await;
    let (single, _) = OrgFx::new(&[], Duration::ZERO).await;
    let a = three_accounts(&fanned).await;
    let b = three_accounts(&single).await;

    let run = caretaker_tests::sfn_driver::execute_at(
        &definition,
        serde_json::json!({}),
        "fan-out-test",
        NIGHT,
        &InProcessScheduler(&fanned.fx.deps),
        200,
    )
    .await;
    assert!(run.succeeded, "{:?}", run.error);
    assert_eq!(
        run.visited,
        ["Accounts", "EachAccount", "Summarize"],
        "{:?}",
        run.visited
    );
    let one = single
        .fx
        .invoke(serde_json::json!({"action": "reconcile", "at": NIGHT}))
        .await;
    for (x, y) in a.iter().zip(&b) {
        for db in ["app-db", "other-db"] {
            assert_eq!(db_status(x, db).await, db_status(y, db).await, "{db}");
        }
    }
    assert_eq!(db_status(&a[0], "app-db").await, "stopped");
    assert_eq!(
        db_status(&a[2], "other-db").await,
        "available",
        "prod refused"
    );
    // The summary is one report over the three accounts, with the same totals.
    let summary: caretaker_shared::RunReport = serde_json::from_value(run.state).unwrap();
    assert_eq!(summary.totals, one.totals, "{:?}", summary.resources);
    assert!(
        summary.totals.changed == 5 && summary.totals.skipped == 1,
        "{:?}",
        summary.totals
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fan_out_reports_a_failed_account_and_goes_on() {
    let definition: serde_json::Value = serde_json::from_str(include_str!(
        "../../functions/dev-scheduler/fanout.asl.json"
    ))
    .unwrap();
    let (o, _) = OrgFx::new(&[], Duration::ZERO).await;
    let a = three_accounts(&o).await;
    // The accounts step lists them; the middle one is then refused by the run itself (it is
    // excluded before the Map reaches it): its invocation fails, the Map catches it.
    struct Failing<'a>(InProcessScheduler<'a>, String);
    #[async_trait::async_trait]
    impl caretaker_tests::sfn_driver::Invoke for Failing<'_> {
        async fn invoke(
            &self,
            payload: serde_json::Value,
        ) -> Result<serde_json::Value, caretaker_tests::sfn_driver::TaskError> {
            if payload["account"] == self.1.as_str() {
                return Err(caretaker_tests::sfn_driver::TaskError {
                    error: "Sandbox.Timedout".into(),
                    cause: "Task timed out after 120.00 seconds".into(),
                });
            }
            self.0.invoke(payload).await
        }
    }
    let run = caretaker_tests::sfn_driver::execute_at(
        &definition,
        serde_json::json!({}),
        "fan-out-failing",
        NIGHT,
        &Failing(InProcessScheduler(&o.fx.deps), a[1].clone()),
        200,
    )
    .await;
    assert!(run.succeeded, "{:?}", run.error);
    let summary: caretaker_shared::RunReport = serde_json::from_value(run.state).unwrap();
    let failed = entry(&summary, "account", &a[1]).unwrap();
    assert!(
        matches!(&failed.outcome, Outcome::Failed { error } if error.contains("timed out")),
        "{failed:?}"
    );
    assert_eq!(db_status(&a[0], "app-db").await, "stopped");
    assert_eq!(db_status(&a[2], "app-db").await, "stopped");
    // One notification for all of it, naming the failed account.
    let told = o.fx.messages().await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains(&a[1]), "{}", told[0]);
}

/// cfn-lint does not read `DefinitionUri`: the fan-out's definition is checked here. Every state
/// named exists (the Map's own included), every Lambda task retries Lambda's transient errors,
/// the Map's concurrency is bounded and a failed account is caught inside it.
#[test]
fn the_fan_out_definition_is_well_formed() {
    fn check(d: &serde_json::Value, tasks: &mut usize) {
        let states = d["States"].as_object().unwrap();
        assert!(states.contains_key(d["StartAt"].as_str().unwrap()));
        for (name, s) in states {
            for next in s["Next"].as_str().into_iter().chain(
                s["Catch"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["Next"].as_str()),
            ) {
                assert!(states.contains_key(next), "{name} → {next}");
            }
            assert!(
                s["Next"].is_string()
                    || s["End"] == true
                    || s["Type"] == "Succeed"
                    || s["Type"] == "Fail",
                "{name} goes nowhere"
            );
            match s["Type"].as_str().unwrap() {
                "Task" => {
                    *tasks += 1;
                    let retried: Vec<&str> = s["Retry"][0]["ErrorEquals"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e.as_str().unwrap())
                        .collect();
                    for e in ["Lambda.ServiceException", "Lambda.TooManyRequestsException"] {
                        assert!(retried.contains(&e), "{name} does not retry {e}");
                    }
                }
                "Map" => {
                    let n = s["MaxConcurrency"].as_u64().unwrap();
                    assert!((1..=40).contains(&n), "{name}: MaxConcurrency {n}");
                    let p = &s["ItemProcessor"];
                    let first = &p["States"][p["StartAt"].as_str().unwrap()];
                    assert_eq!(first["Catch"][0]["ErrorEquals"][0], "States.ALL", "{name}");
                    check(p, tasks);
                }
                _ => {}
            }
        }
    }
    let d: serde_json::Value = serde_json::from_str(include_str!(
        "../../functions/dev-scheduler/fanout.asl.json"
    ))
    .unwrap();
    let mut tasks = 0;
    check(&d, &mut tasks);
    assert_eq!(tasks, 3);
}
