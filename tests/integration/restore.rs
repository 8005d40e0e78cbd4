//! restore-tester against moto's RDS, Secrets Manager and S3, verifying against the local
//! PostgreSQL. Locally the restored endpoint resolves nowhere, so verification is pointed at the
//! stack's PostgreSQL (`VERIFY_HOST_OVERRIDE`), and the test does what RDS would do when the
//! master password is modified: it sets that password on the local role.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_rds::types::Tag;
use caretaker_shared::notify::{Notifiers, SnsSink};
use caretaker_tests::sfn_driver::{Execution, InProcess, Invoke, TaskError, execute};
use restore_tester::{Deps, RestoreConfig, STATE_MACHINE};
use serde_json::{Value, json};

use crate::rotator::admin;
use crate::support::*;

pub struct Fx {
    pub sdk: aws_config::SdkConfig,
    pub deps: Deps,
    pub master: String,
    pub queue: String,
    pub bucket: String,
}

pub const CHECKS: &str = r#"[
  {"kind": "table_exists", "name": "orders table exists", "table": "public.orders"},
  {"kind": "min_rows", "name": "orders has data", "table": "orders", "min": 100},
  {"kind": "freshness", "name": "orders are recent", "query": "SELECT max(updated_at) FROM orders"},
  {"kind": "true", "name": "every order has a customer", "query": "SELECT bool_and(customer_id IS NOT NULL) FROM orders"}
]"#;

impl Fx {
    pub async fn new(checks: &str, data_age_hours: i64) -> Self {
        let sdk = config_in(&fresh_account()).await;
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let (db, master) = (format!("shop_{tag}"), format!("master_{tag}"));
        let admin = admin().await;
        for sql in [
            format!("CREATE ROLE {master} LOGIN PASSWORD NULL"),
            format!("CREATE DATABASE {db} OWNER {master}"),
        ] {
            admin.client().batch_execute(&sql).await.unwrap();
        }
        // The "restored" database: what the prod snapshot holds.
        let mut t = caretaker_shared::pg::Target {
            host: "localhost".into(),
            port: stack_var("CARETAKER_PG_PORT").parse().unwrap(),
            user: stack_var("CARETAKER_PG_SUPERUSER"),
            password: stack_var("CARETAKER_PG_SUPERUSER_PASSWORD").into(),
            dbname: db.clone(),
            tls: true,
            tls_server_name: None,
        };
        let ca = std::fs::read_to_string(stack_var("CARETAKER_PG_CA")).unwrap();
        let connector = caretaker_shared::pg::Connector::new(
            &ca,
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(30),
        )
        .unwrap();
        let s = connector.connect(&t).await.unwrap();
        s.client()
            .batch_execute(&format!(
                "SET ROLE {master};
                 CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL);
                 CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers(id), total_cents int,
                                      updated_at timestamptz NOT NULL);
                 INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 50) g;
                 INSERT INTO orders (customer_id, total_cents, updated_at)
                   SELECT 1 + g % 50, g * 10, now() - interval '{data_age_hours} hours' - (g || ' seconds')::interval FROM generate_series(1, 300) g;"
            ))
            .await
            .unwrap();
        t.dbname = "postgres".into();

        let rds = aws_sdk_rds::Client::new(&sdk);
        rds.create_db_instance()
            .db_instance_identifier("innovate-prod-db")
            .engine("postgres")
            .db_instance_class("db.t4g.small")
            .allocated_storage(20)
            .master_username(&master)
            .master_user_password("prod-master-password")
            .db_name(&db)
            .multi_az(true)
            .backup_retention_period(7)
            .tags(Tag::builder().key("env").value("prod").build())
            .send()
            .await
            .unwrap();
        let bucket = format!("evidence-{tag}");
        aws_sdk_s3::Client::new(&sdk)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let (sns, topic, queue) = alert_topic(&sdk).await;
        let port = stack_var("CARETAKER_PG_PORT");
        let ca_path = stack_var("CARETAKER_PG_CA");
        let vars: Vec<(&str, &str)> = vec![
            ("EVIDENCE_BUCKET", &bucket),
            ("VERIFY_HOST_OVERRIDE", "localhost"),
            ("VERIFY_PORT_OVERRIDE", &port),
            ("RDS_CA_BUNDLE", &ca_path),
            ("CHECKS", checks),
            ("RPO_TARGET_MINUTES", "1440"),
        ];
        let config = RestoreConfig::from_env(&vars.as_slice()).unwrap();
        let deps = Deps::new(
            &sdk,
            config,
            Notifiers::new(vec![Box::new(SnsSink::new(sns, &topic))]),
        )
        .unwrap();
        Fx {
            sdk,
            deps,
            master,
            queue,
            bucket,
        }
    }

    pub fn rds(&self) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.sdk)
    }

    /// Instances other than the source, and restore-test secrets, still present.
    pub async fn leftovers(&self) -> (Vec<String>, Vec<String>) {
        let instances = self
            .rds()
            .describe_db_instances()
            .send()
            .await
            .unwrap()
            .db_instances
            .unwrap_or_default();
        let ids = instances
            .into_iter()
            .filter_map(|i| i.db_instance_identifier)
            .filter(|id| id != "innovate-prod-db")
            .collect();
        let secrets = aws_sdk_secretsmanager::Client::new(&self.sdk)
            .list_secrets()
            .send()
            .await
            .unwrap()
            .secret_list
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.name)
            .filter(|n| n.starts_with("caretaker/restore-test/"))
            .collect();
        (ids, secrets)
    }

    /// What a crashed run leaves behind: its temporary secret.
    pub async fn left_secret(&self, run_id: &str) {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
            .create_secret()
            .name(format!("caretaker/restore-test/{run_id}"))
            .secret_string("pw")
            .send()
            .await
            .unwrap();
    }

    /// ... and an instance carrying its run id, with or without the restore-test mark.
    pub async fn left_instance(&self, id: &str, run_id: &str, marked: bool) {
        let mut req = self
            .rds()
            .create_db_instance()
            .db_instance_identifier(id)
            .engine("postgres")
            .db_instance_class("db.t4g.micro")
            .allocated_storage(20)
            .master_username("m")
            .master_user_password("password123")
            .tags(Tag::builder().key("caretaker:run-id").value(run_id).build());
        if marked {
            req = req.tags(
                Tag::builder()
                    .key("caretaker:restore-test")
                    .value("true")
                    .build(),
            );
        }
        req.send().await.unwrap();
    }

    pub async fn evidence(&self, run_id: &str) -> Value {
        let out = aws_sdk_s3::Client::new(&self.sdk)
            .get_object()
            .bucket(&self.bucket)
            .key(format!("restore-tests/innovate-prod-db/{run_id}.json"))
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap()
    }
}

/// The function in-process, plus what RDS would do, plus optional fault injection.
pub struct Harness<'a> {
    pub fx: &'a Fx,
    /// Fail this step (after running it for real, like a crash after the call) once.
    pub fail_after: Mutex<Option<&'static str>>,
    pub passwords: Mutex<Vec<String>>,
}

#[async_trait]
impl Invoke for Harness<'_> {
    async fn invoke(&self, payload: Value) -> Result<Value, TaskError> {
        let step = payload["step"].as_str().unwrap_or_default().to_owned();
        let result = InProcess(&self.fx.deps).invoke(payload.clone()).await?;
        if step == "credentials" {
            // RDS applies the modified master password to the restored database.
            let run_id = result["runId"].as_str().unwrap();
            let pw = aws_sdk_secretsmanager::Client::new(&self.fx.sdk)
                .get_secret_value()
                .secret_id(format!("caretaker/restore-test/{run_id}"))
                .send()
                .await
                .unwrap()
                .secret_string
                .unwrap();
            let verifier = postgres_protocol::password::scram_sha_256(pw.as_bytes());
            admin()
                .await
                .client()
                .batch_execute(&format!(
                    "ALTER ROLE {} PASSWORD '{verifier}'",
                    self.fx.master
                ))
                .await
                .unwrap();
            self.passwords.lock().unwrap().push(pw);
        }
        let mut fail = self.fail_after.lock().unwrap();
        if fail.as_deref() == Some(step.as_str()) {
            *fail = None;
            return Err(TaskError {
                error: "Internal".into(),
                cause: json!({"errorMessage": format!("injected fault after {step}")}).to_string(),
            });
        }
        Ok(result)
    }
}

pub async fn run(
    fx: &Fx,
    fail_after: Option<&'static str>,
    input: Value,
) -> (Execution, String, Vec<String>) {
    let def: Value = serde_json::from_str(STATE_MACHINE).unwrap();
    let run_id = uuid::Uuid::new_v4().to_string();
    let h = Harness {
        fx,
        fail_after: Mutex::new(fail_after),
        passwords: Mutex::new(Vec::new()),
    };
    let exec = execute(&def, input, &run_id, &h, 200).await;
    let pw = h.passwords.lock().unwrap().clone();
    (exec, run_id, pw)
}

fn start_input() -> Value {
    serde_json::from_str(include_str!(
        "../../events/restore-tester/state-machine/manual-start.json"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_passing_run_verifies_reports_and_cleans_up_without_leaking_the_password() {
    let logs = captured_logs();
    let fx = Fx::new(CHECKS, 1).await;
    let (exec, run_id, passwords) = run(&fx, None, start_input()).await;

    assert!(exec.succeeded, "{:?} {:#}", exec.error, exec.state);
    for s in [
        "Start",
        "PollAvailable",
        "SetCredentials",
        "PollCredentials",
        "Verify",
        "Cleanup",
        "Report",
        "Succeeded",
    ] {
        assert!(
            exec.visited.iter().any(|v| v == s),
            "{s} not visited: {:?}",
            exec.visited
        );
    }
    assert_eq!(
        fx.leftovers().await,
        (vec![], vec![]),
        "nothing left behind"
    );
    let ev = fx.evidence(&run_id).await;
    assert_eq!(ev["passed"], true, "{ev:#}");
    assert_eq!(ev["checks"].as_array().unwrap().len(), 4);
    assert!(ev["rtoMinutes"].as_f64().is_some());
    assert!(ev["timings"]["verified"].is_string() && ev["timings"]["restoreRequested"].is_string());
    assert_eq!(
        ev["snapshotId"].as_str().map(|s| s.starts_with("rds:")),
        Some(true),
        "{ev:#}"
    );
    let msgs = drain(&fx.sdk, &fx.queue).await;
    assert!(
        msgs[0].contains("Restore test of innovate-prod-db passed"),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].contains("Cleaned up: yes"));

    assert_eq!(passwords.len(), 1);
    let pw = &passwords[0];
    assert!(
        !exec.state.to_string().contains(pw.as_str()),
        "password in the state machine's state"
    );
    assert!(
        !ev.to_string().contains(pw.as_str()),
        "password in the evidence"
    );
    assert!(
        !msgs[0].contains(pw.as_str()),
        "password in the notification"
    );
    assert!(!logs.text().contains(pw.as_str()), "password in the logs");
}

#[tokio::test]
async fn stale_data_and_a_missing_table_fail_the_test_and_still_clean_up() {
    let missing = r#"[{"kind": "table_exists", "name": "invoices exist", "table": "public.invoices"},
                      {"kind": "freshness", "name": "orders are recent", "query": "SELECT max(updated_at) FROM orders"}]"#;
    let fx = Fx::new(missing, 72).await;
    let (exec, run_id, _) = run(&fx, None, start_input()).await;
    assert!(!exec.succeeded);
    assert_eq!(exec.error.as_deref(), Some("RestoreTestFailed"));
    let ev = fx.evidence(&run_id).await;
    assert_eq!(ev["passed"], false);
    let checks = ev["checks"].as_array().unwrap();
    assert_eq!(checks[0]["passed"], false);
    assert_eq!(checks[0]["detail"], "public.invoices is missing");
    assert_eq!(
        checks[1]["passed"], false,
        "72 h old data breaks a 24 h RPO: {}",
        checks[1]
    );
    assert!(ev["summary"].as_str().unwrap().starts_with("FAILED checks"));
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
    assert!(
        drain(&fx.sdk, &fx.queue).await[0]
            .contains("[CRITICAL] Restore test of innovate-prod-db FAILED")
    );
}

#[tokio::test]
async fn a_fault_at_each_step_leaves_no_instance_and_no_secret() {
    for step in [
        "start",
        "poll",
        "credentials",
        "verify",
        "cleanup",
        "report",
    ] {
        let fx = Fx::new(CHECKS, 1).await;
        let (exec, run_id, _) = run(&fx, Some(step), start_input()).await;
        assert!(
            exec.visited.iter().any(|v| v == "Cleanup"),
            "{step}: cleanup not reached: {:?}",
            exec.visited
        );
        assert_eq!(
            fx.leftovers().await,
            (vec![], vec![]),
            "after a fault in {step}"
        );
        if step != "report" && step != "cleanup" {
            assert!(!exec.succeeded, "{step}");
            let ev = fx.evidence(&run_id).await;
            assert!(
                ev["error"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("injected fault after {step}")),
                "{ev:#}"
            );
            assert_eq!(ev["cleanedUp"], true);
        }
    }
}

#[tokio::test]
async fn bad_input_is_rejected_with_no_side_effect() {
    let fx = Fx::new(CHECKS, 1).await;
    for (input, expect) in [
        (
            include_str!("../../events/restore-tester/state-machine/bad-source.json"),
            "not a DB instance identifier",
        ),
        (
            include_str!("../../events/restore-tester/state-machine/bad-unknown-field.json"),
            "unknown field",
        ),
        (r#"{"sourceInstance": "no-such-db"}"#, "not found"),
    ] {
        let payload = json!({"step": "start", "runId": "r1", "input": serde_json::from_str::<Value>(input).unwrap()});
        let err = restore_tester::handler::step(&fx.deps, payload)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
    }
    let err = restore_tester::handler::step(&fx.deps, json!({"step": "restore-everything"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown step"));
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn dry_run_plans_without_restoring_succeeds_and_writes_nothing() {
    let fx = Fx::new(CHECKS, 1).await;
    let (exec, _, _) = run(
        &fx,
        None,
        serde_json::from_str(include_str!(
            "../../events/restore-tester/state-machine/dry-run.json"
        ))
        .unwrap(),
    )
    .await;
    assert!(
        !exec.visited.iter().any(|v| v == "PollAvailable"),
        "{:?}",
        exec.visited
    );
    assert!(
        exec.state["verdict"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("dry run: would restore innovate-prod-db")
    );
    assert!(
        exec.succeeded,
        "a dry run is not a failed execution: {:?}",
        exec.error
    );
    let objects = aws_sdk_s3::Client::new(&fx.sdk)
        .list_objects_v2()
        .bucket(&fx.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count.unwrap_or(0), 0, "no evidence written");
    assert!(drain(&fx.sdk, &fx.queue).await.is_empty(), "nothing sent");
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn past_the_deadline_a_poll_fails_and_says_so() {
    let fx = Fx::new(CHECKS, 1).await;
    let run =
        restore_tester::steps::start(&fx.deps, "deadline-run", start_input(), chrono::Utc::now())
            .await
            .unwrap();
    let later = run.deadline + chrono::Duration::minutes(1);
    let err = restore_tester::steps::poll(
        &fx.deps,
        run.clone(),
        restore_tester::domain::Phase::Available,
        later,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("passed its deadline"), "{err}");
    let state = restore_tester::run::State {
        run: Some(run),
        ..Default::default()
    };
    restore_tester::steps::cleanup(&fx.deps, "deadline-run", &state)
        .await
        .unwrap();
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn the_sweeper_removes_expired_leftovers_and_nothing_else() {
    let fx = Fx::new(CHECKS, 1).await;
    let rds = fx.rds();
    let sm = aws_sdk_secretsmanager::Client::new(&fx.sdk);
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::Duration::hours(5)).to_rfc3339();
    for (id, tags) in [
        (
            "rt-old-crashed",
            vec![
                ("caretaker:restore-test", "true"),
                ("caretaker:expires-at", past.as_str()),
            ],
        ),
        (
            "rt-running-now",
            vec![
                ("caretaker:restore-test", "true"),
                ("caretaker:expires-at", future.as_str()),
            ],
        ),
        (
            "analytics-db",
            vec![("caretaker:expires-at", past.as_str())],
        ),
    ] {
        let mut req = rds
            .create_db_instance()
            .db_instance_identifier(id)
            .engine("postgres")
            .db_instance_class("db.t4g.micro")
            .allocated_storage(20)
            .master_username("m")
            .master_user_password("password123");
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(k).value(v).build());
        }
        req.send().await.unwrap();
    }
    for (name, expires) in [
        ("caretaker/restore-test/old", past.as_str()),
        ("caretaker/restore-test/live", future.as_str()),
        ("innovate/prod/app-db", past.as_str()),
    ] {
        sm.create_secret()
            .name(name)
            .secret_string("x")
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("caretaker:restore-test")
                    .value("true")
                    .build(),
            )
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("caretaker:expires-at")
                    .value(expires)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let report = restore_tester::handler::step(
        &fx.deps,
        serde_json::from_str(include_str!("../../events/restore-tester/sweep.json")).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(report["totals"]["changed"], 2, "{report:#}");
    let left: Vec<String> = rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances
        .unwrap()
        .into_iter()
        .filter_map(|i| i.db_instance_identifier)
        .collect();
    assert!(
        left.contains(&"rt-running-now".to_owned())
            && left.contains(&"analytics-db".to_owned())
            && !left.contains(&"rt-old-crashed".to_owned()),
        "{left:?}"
    );
    let secrets: Vec<String> = sm
        .list_secrets()
        .send()
        .await
        .unwrap()
        .secret_list
        .unwrap()
        .into_iter()
        .filter_map(|s| s.name)
        .collect();
    assert!(
        secrets.contains(&"caretaker/restore-test/live".to_owned())
            && secrets.contains(&"innovate/prod/app-db".to_owned())
    );
    assert!(!secrets.contains(&"caretaker/restore-test/old".to_owned()));
}

/// The state machine as data: every Task's failure path reaches Cleanup, the wait loops are
/// bounded, and the function it names exists in the template.
#[test]
fn state_machine_definition_is_safe() {
    let def: Value = serde_json::from_str(STATE_MACHINE).unwrap();
    let states = def["States"].as_object().unwrap();
    let reaches = |from: &str, target: &str| {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(s) = todo.pop() {
            if s == target {
                return true;
            }
            if !seen.insert(s.clone()) {
                continue;
            }
            let st = &states[&s];
            for key in ["Next", "Default"] {
                if let Some(n) = st[key].as_str() {
                    todo.push(n.to_owned());
                }
            }
            for c in st["Choices"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(st["Catch"].as_array().into_iter().flatten())
            {
                todo.push(c["Next"].as_str().unwrap().to_owned());
            }
        }
        false
    };
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    for (name, st) in states {
        if st["Type"] != "Task" {
            continue;
        }
        let catch_all = st["Catch"].as_array().and_then(|c| {
            c.iter().find(|c| {
                c["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == "States.ALL")
            })
        });
        let catch_all = catch_all.unwrap_or_else(|| panic!("{name} has no catch-all"));
        let handler = catch_all["Next"].as_str().unwrap();
        if name != "Cleanup" && name != "Report" {
            assert!(
                reaches(handler, "Cleanup"),
                "{name}'s failure path does not reach Cleanup"
            );
        }
        let resource = st["Resource"].as_str().unwrap();
        let sub = resource.trim_start_matches("${").trim_end_matches('}');
        assert!(
            template.contains(&format!("{sub}: !GetAtt RestoreTesterFunction.Arn")),
            "{sub} not substituted in template.yaml"
        );
    }
    assert!(template.contains("  RestoreTesterFunction:\n    Type: AWS::Serverless::Function"));
    assert!(template.contains("Binary: restore-tester"));
    // Every loop back to a Wait passes a Choice with a poll bound.
    for (name, st) in states {
        let loops_back = st["Default"].as_str().is_some_and(|d| reaches(d, name));
        if st["Type"] == "Choice" && loops_back {
            assert!(
                st["Choices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c.get("NumericGreaterThanEquals").is_some()),
                "{name} loops without a bound"
            );
        }
    }
    assert!(def["TimeoutSeconds"].as_u64().is_some());
}

#[tokio::test]
async fn cleanup_deletes_the_secret_first_and_everything_it_can_whatever_fails() {
    let fx = Fx::new(CHECKS, 1).await;
    let run_id = "cleanup-faults";
    // The run's secret (a live password), its instance, and one that claims the run's id but
    // lacks the restore-test mark: deleting that one is refused.
    fx.left_secret(run_id).await;
    fx.left_instance("rt-foreign-db", run_id, false).await;
    fx.left_instance("rt-ours-db", run_id, true).await;
    let state: Value = json!({});
    let err = restore_tester::handler::step(
        &fx.deps,
        json!({"step": "cleanup", "runId": run_id, "state": state}),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("rt-foreign-db") && msg.contains("not tagged"),
        "{msg}"
    );
    assert_eq!(
        caretaker_shared::error::Classify::kind(&err).as_str(),
        "Retryable"
    );
    let (instances, secrets) = fx.leftovers().await;
    assert!(
        secrets.is_empty(),
        "the password outlived the cleanup: {secrets:?}"
    );
    assert_eq!(
        instances,
        vec!["rt-foreign-db".to_owned()],
        "ours deleted, the other kept"
    );
}

#[tokio::test]
async fn identifiers_and_shapes_are_checked_before_they_name_anything() {
    let fx = Fx::new(CHECKS, 1).await;
    let sm = aws_sdk_secretsmanager::Client::new(&fx.sdk);
    sm.create_secret()
        .name("caretaker/restore-test/other-run")
        .secret_string("pw")
        .send()
        .await
        .unwrap();
    for (file, needle) in [
        (
            include_str!("../../events/restore-tester/bad-run-id.json"),
            "runId",
        ),
        (
            include_str!("../../events/restore-tester/bad-input-array.json"),
            "not an object",
        ),
    ] {
        let err = restore_tester::handler::step(&fx.deps, serde_json::from_str(file).unwrap())
            .await
            .unwrap_err();
        assert_invalid_input(err, needle);
    }
    let unknown = json!({"step": "start", "runId": "r1",
                         "input": {"sourceInstance": "innovate-prod-db", "snapshot": "no-such-snapshot"}});
    let err = restore_tester::handler::step(&fx.deps, unknown)
        .await
        .unwrap_err();
    assert_invalid_input(err, "no-such-snapshot");
    assert_eq!(
        fx.leftovers().await,
        (vec![], vec!["caretaker/restore-test/other-run".to_owned()]),
        "nothing created, nothing deleted"
    );
}

#[tokio::test]
async fn when_the_evidence_cannot_be_written_people_are_still_told() {
    let mut fx = Fx::new(CHECKS, 1).await;
    fx.deps.config.evidence_bucket = Some(format!("{}-gone", fx.bucket));
    let state = json!({"sourceInstance": "innovate-prod-db", "error": {"Error": "Internal", "Cause": "boom"}});
    let err = restore_tester::handler::step(
        &fx.deps,
        json!({"step": "report", "runId": "evidence-fails", "state": state}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("PutObject"), "{err}");
    let msgs = drain(&fx.sdk, &fx.queue).await;
    assert!(
        msgs.len() == 1 && msgs[0].contains("FAILED") && msgs[0].contains("NOT written"),
        "{msgs:?}"
    );
}

/// The template's tagging permission, read as data: only `rt-*` instances, only the tag keys the
/// function writes (compared with what a real start wrote), `env` only as `restore-test`.
#[tokio::test]
async fn the_tagging_permission_is_exactly_what_a_restore_writes() {
    let template: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../template.yaml")).unwrap();
    let statements =
        template["Resources"]["RestoreTesterFunction"]["Properties"]["Policies"][0]["Statement"]
            .as_sequence()
            .unwrap();
    let tagging: Vec<_> = statements
        .iter()
        .filter(|s| {
            s["Action"]
                .as_sequence()
                .is_some_and(|a| a.iter().any(|x| x == "rds:AddTagsToResource"))
        })
        .collect();
    assert_eq!(tagging.len(), 1, "one statement may tag");
    let st = tagging[0];
    let resource = format!("{:?}", st["Resource"]);
    assert!(resource.contains(":db:rt-*"), "{resource}");
    let cond = &st["Condition"];
    assert_eq!(cond["StringEquals"]["aws:RequestTag/env"], "restore-test");
    let allowed: std::collections::BTreeSet<String> =
        cond["ForAllValues:StringEquals"]["aws:TagKeys"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();

    let fx = Fx::new(CHECKS, 1).await;
    let run =
        restore_tester::steps::start(&fx.deps, "iam-check", start_input(), chrono::Utc::now())
            .await
            .unwrap();
    assert!(run.restore_instance.starts_with("rt-"));
    let arn = fx
        .rds()
        .describe_db_instances()
        .db_instance_identifier(&run.restore_instance)
        .send()
        .await
        .unwrap()
        .db_instances
        .unwrap()[0]
        .db_instance_arn
        .clone()
        .unwrap();
    let written = fx
        .rds()
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap()
        .tag_list
        .unwrap_or_default();
    let keys: std::collections::BTreeSet<String> =
        written.iter().filter_map(|t| t.key.clone()).collect();
    assert_eq!(
        keys, allowed,
        "the tags written are exactly the tags allowed"
    );
    assert!(
        written
            .iter()
            .any(|t| t.key.as_deref() == Some("env") && t.value.as_deref() == Some("restore-test"))
    );
    let state = restore_tester::run::State {
        run: Some(run),
        ..Default::default()
    };
    restore_tester::steps::cleanup(&fx.deps, "iam-check", &state)
        .await
        .unwrap();
}

/// The secret's delete fails (the network to Secrets Manager fails past the SDK's retries):
/// cleanup still deletes the instance, then fails naming the secret it could not delete.
#[tokio::test]
async fn a_secret_that_cannot_be_deleted_does_not_stop_the_instance_from_going() {
    let mut fx = Fx::new(CHECKS, 1).await;
    let run_id = "secret-delete-fails";
    fx.left_secret(run_id).await;
    fx.left_instance("rt-innovate-prod-db-secretde", run_id, true)
        .await;
    let spy = Spy {
        calls: Default::default(),
        fail: Some("DeleteSecret"),
    };
    fx.deps.sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&fx.sdk)
            .interceptor(spy)
            .build(),
    );
    let err = restore_tester::handler::step(
        &fx.deps,
        json!({"step": "cleanup", "runId": run_id, "state": {}}),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("secret caretaker/restore-test/{run_id}")),
        "{err}"
    );
    let (instances, secrets) = fx.leftovers().await;
    assert!(
        instances.is_empty(),
        "the instance went anyway: {instances:?}"
    );
    assert_eq!(
        secrets.len(),
        1,
        "and the report names the secret that stayed"
    );
}
