//! secret-rotator against moto's Secrets Manager and the real PostgreSQL 15 (TLS) of the local
//! stack. moto's `RotateSecret` does not run a rotation, so the tests do what Secrets Manager
//! does: register the token as an AWSPENDING version, then call the four steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_secretsmanager::primitives::Blob;
use secrecy::ExposeSecret;
use secret_rotator::config::{RotatorConfig, Strategy};
use secret_rotator::db::{Connector, DbError};
use secret_rotator::event::RotationEvent;
use secret_rotator::handler::run_step;
use secret_rotator::secret::DbSecret;
use secret_rotator::{Deps, RotatorError};

use crate::support::*;

pub const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

fn pg_port() -> u16 {
    stack_var("CARETAKER_PG_PORT").parse().unwrap()
}

fn config(strategy: Strategy) -> RotatorConfig {
    let vars: &[(&str, &str)] = &[];
    let mut c = RotatorConfig::from_env(&vars).unwrap();
    c.strategy = strategy;
    c.ca_bundle_pem = std::fs::read_to_string(stack_var("CARETAKER_PG_CA")).unwrap();
    c
}

pub fn secret_json(user: &str, password: &str, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "engine": "postgres",
        "host": "localhost",
        "port": pg_port(),
        "username": user,
        "password": password,
        "dbname": "postgres",
        "ssl": true,
        "application": "innovate-backend"
    });
    if let serde_json::Value::Object(extra) = extra {
        v.as_object_mut().unwrap().extend(extra);
    }
    v.to_string()
}

pub async fn admin() -> secret_rotator::db::Session {
    let c = config(Strategy::SingleUser);
    let connector = Connector::new(&c.ca_bundle_pem, c.connect_timeout, c.query_timeout).unwrap();
    let s = DbSecret::parse(&secret_json(
        &stack_var("CARETAKER_PG_SUPERUSER"),
        &stack_var("CARETAKER_PG_SUPERUSER_PASSWORD"),
        serde_json::json!({}),
    ))
    .unwrap();
    connector.connect(&s).await.unwrap()
}

/// A login role with a password, created by the superuser.
pub async fn create_role(name: &str, password: &str, superuser: bool) {
    let extra = if superuser { "SUPERUSER" } else { "CREATEDB" };
    // A verifier, not the plaintext: the whole test binary's logs are checked for passwords.
    let password = postgres_protocol::password::scram_sha_256(password.as_bytes());
    // GRANT ON SCHEMA public updates one catalogue row: two at once fail with "tuple concurrently
    // updated", so tests that run in parallel take turns here.
    static GRANTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = GRANTS.lock().await;
    admin()
        .await
        .client()
        .batch_execute(&format!(
            "CREATE ROLE \"{name}\" LOGIN {extra} PASSWORD '{password}'; GRANT CREATE ON SCHEMA public TO \"{name}\""
        ))
        .await
        .unwrap();
}

pub struct Fixture {
    pub sdk: aws_config::SdkConfig,
    pub deps: Deps,
    pub secret: String,
    pub user: String,
}

impl Fixture {
    pub async fn new(strategy: Strategy) -> Self {
        let sdk = config_in(&fresh_account()).await;
        let user = format!("app_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        create_role(&user, "initial-Passw0rd", false).await;
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let mut extra = serde_json::json!({});
        if strategy == Strategy::AlternatingUsers {
            let master = format!("{user}_master");
            create_role(&master, "master-Passw0rd", true).await;
            let arn = sm
                .create_secret()
                .name(format!("innovate/dev/{master}"))
                .secret_string(secret_json(
                    &master,
                    "master-Passw0rd",
                    serde_json::json!({}),
                ))
                .send()
                .await
                .unwrap()
                .arn
                .unwrap();
            extra = serde_json::json!({ "masterarn": arn });
        }
        let secret = sm
            .create_secret()
            .name(format!("innovate/dev/{user}"))
            .secret_string(secret_json(&user, "initial-Passw0rd", extra))
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        let deps = Deps::new(&sdk, config(strategy)).unwrap();
        Fixture {
            sdk,
            deps,
            secret,
            user,
        }
    }

    pub async fn describe(
        &self,
    ) -> aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput {
        self.sm()
            .describe_secret()
            .secret_id(&self.secret)
            .send()
            .await
            .unwrap()
    }

    pub fn sm(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
    }

    /// What Secrets Manager does before calling createSecret: register the token as AWSPENDING.
    /// (moto cannot hold a version without a value: a binary placeholder stands in for "no string".)
    pub async fn begin(&self) -> String {
        let token = uuid::Uuid::new_v4().to_string();
        self.sm()
            .put_secret_value()
            .secret_id(&self.secret)
            .client_request_token(&token)
            .secret_binary(Blob::new(vec![0]))
            .version_stages("AWSPENDING")
            .send()
            .await
            .unwrap();
        token
    }

    pub async fn step(
        &self,
        step: &str,
        token: &str,
    ) -> Result<caretaker_shared::RunReport, RotatorError> {
        let ev = RotationEvent {
            step: step.into(),
            secret_id: self.secret.clone(),
            client_request_token: token.into(),
            rotation_token: None,
        };
        run_step(&self.deps, &ev).await
    }

    pub async fn rotate(&self) -> String {
        let token = self.begin().await;
        for step in STEPS {
            self.step(step, &token).await.unwrap();
        }
        token
    }

    pub async fn stage(&self, stage: &str) -> DbSecret {
        DbSecret::parse(&self.stage_raw(stage).await.to_string()).unwrap()
    }

    pub async fn stage_raw(&self, stage: &str) -> serde_json::Value {
        let v = self
            .sm()
            .get_secret_value()
            .secret_id(&self.secret)
            .version_stage(stage)
            .send()
            .await
            .unwrap();
        serde_json::from_str(v.secret_string.as_deref().unwrap()).unwrap()
    }

    pub async fn logs_in(&self, s: &DbSecret) -> Result<(), DbError> {
        self.deps.connector.connect(s).await.map(|_| ())
    }
}

#[tokio::test]
async fn single_user_rotation_switches_the_password() {
    let fx = Fixture::new(Strategy::SingleUser).await;
    let old = fx.stage("AWSCURRENT").await;

    fx.rotate().await;

    let new = fx.stage("AWSCURRENT").await;
    assert_eq!(new.username, fx.user);
    assert_ne!(new.password.expose_secret(), old.password.expose_secret());
    assert_eq!(new.password.expose_secret().len(), 32);
    fx.logs_in(&new).await.expect("new password logs in");
    let err = fx.logs_in(&old).await.unwrap_err();
    assert!(
        err.is_auth_failure(),
        "old password must be rejected, got {err}"
    );
    assert_eq!(
        fx.stage_raw("AWSCURRENT").await["application"],
        "innovate-backend",
        "unknown keys kept"
    );
    assert_eq!(
        fx.stage("AWSPREVIOUS").await.password.expose_secret(),
        old.password.expose_secret()
    );
}

#[tokio::test]
async fn every_step_replayed_changes_nothing_more() {
    let fx = Fixture::new(Strategy::SingleUser).await;
    let token = fx.begin().await;
    for step in STEPS {
        fx.step(step, &token).await.unwrap();
        let again = fx.step(step, &token).await.unwrap();
        assert_eq!(
            again.totals.failed, 0,
            "{step} replay: {:?}",
            again.resources
        );
    }
    let pending_value = fx.stage("AWSCURRENT").await;
    fx.logs_in(&pending_value).await.unwrap();
    // After finish, every step answers "already AWSCURRENT".
    for step in STEPS {
        let r = fx.step(step, &token).await.unwrap();
        assert_eq!(r.totals.skipped, 1, "{step}: {:?}", r.resources);
    }
}

#[tokio::test]
async fn rotation_interrupted_after_each_step_then_resumed_completes() {
    for stop_after in 1..=3 {
        let fx = Fixture::new(Strategy::SingleUser).await;
        let old = fx.stage("AWSCURRENT").await;
        let token = fx.begin().await;
        for step in &STEPS[..stop_after] {
            fx.step(step, &token).await.unwrap();
        }
        // Secrets Manager retries the whole rotation with the same token.
        for step in STEPS {
            fx.step(step, &token)
                .await
                .unwrap_or_else(|e| panic!("resume after {stop_after}: {step}: {e}"));
        }
        let new = fx.stage("AWSCURRENT").await;
        assert_ne!(new.password.expose_secret(), old.password.expose_secret());
        fx.logs_in(&new).await.unwrap();
    }
}

#[tokio::test]
async fn alternating_users_rotate_between_user_and_clone_with_shared_objects() {
    let fx = Fixture::new(Strategy::AlternatingUsers).await;
    let original = fx.stage("AWSCURRENT").await;

    fx.rotate().await;
    let first = fx.stage("AWSCURRENT").await;
    assert_eq!(first.username, format!("{}_clone", fx.user));
    fx.logs_in(&first).await.expect("clone logs in");
    fx.logs_in(&original)
        .await
        .expect("the original user is untouched and still logs in");

    // Objects the clone creates belong to the original (SET ROLE), so both can use them.
    let table = format!("orders_{}", fx.user);
    let clone = fx.deps.connector.connect(&first).await.unwrap();
    clone
        .client()
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int); INSERT INTO {table} VALUES (1)"
        ))
        .await
        .unwrap();
    let orig = fx.deps.connector.connect(&original).await.unwrap();
    let n: i64 = orig
        .client()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let owner: String = orig
        .client()
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = $1",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, fx.user);

    fx.rotate().await;
    let second = fx.stage("AWSCURRENT").await;
    assert_eq!(second.username, fx.user);
    assert_ne!(
        second.password.expose_secret(),
        original.password.expose_secret()
    );
    fx.logs_in(&second).await.unwrap();
    fx.logs_in(&first)
        .await
        .expect("previous (clone) still logs in until the next rotation");
    assert!(fx.logs_in(&original).await.unwrap_err().is_auth_failure());
}

#[tokio::test]
async fn login_probe_never_sees_a_current_that_fails_during_alternating_rotations() {
    let fx = Arc::new(Fixture::new(Strategy::AlternatingUsers).await);
    let stop = Arc::new(AtomicBool::new(false));
    let (probes, violations) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let probe = {
        let (fx, stop, probes, violations) =
            (fx.clone(), stop.clone(), probes.clone(), violations.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let cur = fx.stage("AWSCURRENT").await;
                if let Err(e) = fx.logs_in(&cur).await {
                    // Count it only if that value is still AWSCURRENT after the failure.
                    let again = fx.stage("AWSCURRENT").await;
                    if again.password.expose_secret() == cur.password.expose_secret() {
                        eprintln!("AWSCURRENT failed to log in: {e}");
                        violations.fetch_add(1, Ordering::Relaxed);
                    }
                }
                probes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for _ in 0..4 {
        fx.rotate().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    probe.await.unwrap();
    assert!(probes.load(Ordering::Relaxed) > 5, "the probe ran");
    assert_eq!(violations.load(Ordering::Relaxed), 0);
}

async fn connect_err(secret: serde_json::Value, ca: &str) -> DbError {
    let pem = std::fs::read_to_string(ca).unwrap();
    let connector = Connector::new(&pem, Duration::from_secs(3), Duration::from_secs(3)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&secret_json(
        &stack_var("CARETAKER_PG_SUPERUSER"),
        &stack_var("CARETAKER_PG_SUPERUSER_PASSWORD"),
        serde_json::json!({}),
    ))
    .unwrap();
    v.as_object_mut()
        .unwrap()
        .extend(secret.as_object().unwrap().clone());
    match connector
        .connect(&DbSecret::parse(&v.to_string()).unwrap())
        .await
    {
        Ok(_) => panic!("connect unexpectedly succeeded"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn tls_failures_are_named() {
    let ca = stack_var("CARETAKER_PG_CA");
    let e = connect_err(serde_json::json!({}), &stack_var("CARETAKER_PG_OTHER_CA")).await;
    assert!(matches!(e, DbError::TlsUntrusted { .. }), "{e}");
    assert!(e.to_string().contains("certificate not trusted"));

    let e = connect_err(serde_json::json!({ "host": "127.0.0.1" }), &ca).await;
    assert!(matches!(e, DbError::TlsWrongHost { .. }), "{e}");

    let e = connect_err(serde_json::json!({ "password": "wrong-password" }), &ca).await;
    assert!(matches!(e, DbError::AuthFailed { .. }), "{e}");
    assert!(!e.to_string().contains("wrong-password"));

    let e = connect_err(serde_json::json!({ "port": 1 }), &ca).await;
    assert!(matches!(e, DbError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("connection refused"), "{e}");

    // A server that only speaks plaintext answers the TLS request with 'N'.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 8];
            let _ = s.read_exact(&mut buf).await;
            let _ = s.write_all(b"N").await;
        }
    });
    let e = connect_err(
        serde_json::json!({ "host": "localhost", "port": port }),
        &ca,
    )
    .await;
    assert!(matches!(e, DbError::TlsUnsupported { .. }), "{e}");
}

#[tokio::test]
async fn tls_server_name_override_verifies_against_the_given_name() {
    let pem = std::fs::read_to_string(stack_var("CARETAKER_PG_CA")).unwrap();
    let connector = Connector::new(&pem, Duration::from_secs(3), Duration::from_secs(3)).unwrap();
    let s = DbSecret::parse(&secret_json(
        &stack_var("CARETAKER_PG_SUPERUSER"),
        &stack_var("CARETAKER_PG_SUPERUSER_PASSWORD"),
        serde_json::json!({ "host": "127.0.0.1", "tls_server_name": "localhost" }),
    ))
    .unwrap();
    connector
        .connect(&s)
        .await
        .expect("connects by IP, verifies as localhost");
}

#[tokio::test]
async fn connect_to_a_blackhole_fails_fast_with_a_named_timeout() {
    // A listener that never answers: the connect must give up at the configured timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let pem = std::fs::read_to_string(stack_var("CARETAKER_PG_CA")).unwrap();
    let connector = Connector::new(&pem, Duration::from_secs(1), Duration::from_secs(1)).unwrap();
    let s = DbSecret::parse(&secret_json("u", "p", serde_json::json!({ "port": port }))).unwrap();
    let e = connector.connect(&s).await.err().unwrap();
    assert!(matches!(e, DbError::Timeout { .. }), "{e}");
}

#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_server_log() {
    let logs = captured_logs();
    let fx = Fixture::new(Strategy::AlternatingUsers).await;
    let mut passwords = vec!["initial-Passw0rd".to_owned(), "master-Passw0rd".to_owned()];
    for _ in 0..2 {
        let token = fx.begin().await;
        for step in STEPS {
            let ev = serde_json::json!({"Step": step, "SecretId": fx.secret, "ClientRequestToken": token});
            secret_rotator::handler::handle(
                lambda_runtime::LambdaEvent::new(ev.into(), Default::default()),
                &fx.deps,
            )
            .await
            .unwrap();
        }
        passwords.push(
            fx.stage("AWSCURRENT")
                .await
                .password
                .expose_secret()
                .to_owned(),
        );
    }
    let logs = logs.text();
    assert!(
        logs.contains(&fx.secret) && logs.contains("step done"),
        "the handler logged: {logs}"
    );
    let server_log = std::fs::read_to_string(stack_var("CARETAKER_PG_LOG")).unwrap();
    assert!(
        server_log.contains("SCRAM-SHA-256$4096:"),
        "verifiers were sent"
    );
    for p in &passwords[2..] {
        assert!(
            !logs.contains(p.as_str()),
            "a rotated password reached the function's logs"
        );
        assert!(
            !server_log.contains(p.as_str()),
            "a rotated password reached the server log"
        );
    }
    for p in &passwords[..2] {
        let line = logs
            .lines()
            .find(|l| l.contains(p.as_str()))
            .unwrap_or_default();
        assert!(
            !logs.contains(p.as_str()),
            "a stored password reached the function's logs: {line}"
        );
    }
}

#[tokio::test]
async fn malformed_secrets_fail_clearly_and_change_nothing() {
    for (bad, expect) in [
        (serde_json::json!({"engine": "mysql"}), "engine"),
        (serde_json::json!({"port": "not-a-port"}), "port"),
        (serde_json::json!({"host": null}), "\"host\" is missing"),
    ] {
        let fx = Fixture::new(Strategy::SingleUser).await;
        let mut v = fx.stage_raw("AWSCURRENT").await;
        v.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        fx.sm()
            .put_secret_value()
            .secret_id(&fx.secret)
            .secret_string(v.to_string())
            .send()
            .await
            .unwrap();
        let before = fx.describe().await.version_ids_to_stages;
        let token = fx.begin().await;
        let err = fx.step("createSecret", &token).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
        assert_eq!(
            caretaker_shared::error::Classify::kind(&err),
            caretaker_shared::ErrorKind::InvalidInput
        );
        let pending = fx
            .sm()
            .get_secret_value()
            .secret_id(&fx.secret)
            .version_id(&token)
            .version_stage("AWSPENDING")
            .send()
            .await
            .unwrap();
        assert!(pending.secret_string.is_none(), "nothing was written");
        let after = fx.describe().await.version_ids_to_stages.unwrap();
        assert_eq!(
            after.len(),
            before.unwrap().len() + 1,
            "only the test's own pending placeholder was added"
        );
    }
}

#[tokio::test]
async fn malformed_events_are_rejected_before_any_call() {
    for (file, expect) in [
        (
            include_str!("../../events/secret-rotator/bad-unknown-step.json"),
            "unknown Step",
        ),
        (
            include_str!("../../events/secret-rotator/bad-missing-token.json"),
            "ClientRequestToken",
        ),
    ] {
        let v: serde_json::Value = serde_json::from_str(file).unwrap();
        let err = match RotationEvent::parse(v) {
            Err(e) => RotatorError::from(e),
            Ok(ev) => secret_rotator::domain::Step::parse(&ev.step).unwrap_err(),
        };
        assert!(err.to_string().contains(expect), "{err}");
    }
    let ev: RotationEvent = RotationEvent::parse(
        serde_json::from_str(include_str!(
            "../../events/secret-rotator/create-secret-with-rotation-token.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert!(ev.rotation_token.is_some());
}

#[tokio::test]
async fn unknown_token_and_current_token_follow_the_reference() {
    let fx = Fixture::new(Strategy::SingleUser).await;
    let err = fx
        .step("createSecret", "00000000-0000-4000-8000-00000000dead")
        .await
        .unwrap_err();
    assert!(matches!(err, RotatorError::UnknownVersion { .. }), "{err}");
    let token = fx.rotate().await;
    let r = fx.step("setSecret", &token).await.unwrap();
    assert_eq!(r.totals.skipped, 1);
}

/// An RDS-managed master secret (`manage-master-user-password`) holds only a username and a
/// password; the host comes from the instance named by its `aws:rds:primaryDBInstanceArn` tag.
/// moto's endpoint resolves nowhere, so the login fails: the error must name that host, which
/// proves the lookup happened; a tag naming no instance is a clear lookup error.
#[tokio::test]
async fn an_rds_managed_master_secret_is_reached_through_its_instance() {
    let fx = Fixture::new(Strategy::AlternatingUsers).await;
    let rds = aws_sdk_rds::Client::new(&fx.sdk);
    let instance = rds
        .create_db_instance()
        .db_instance_identifier("innovate-dev-db")
        .engine("postgres")
        .db_instance_class("db.t4g.small")
        .allocated_storage(20)
        .master_username("innovate_admin")
        .master_user_password("password123")
        .send()
        .await
        .unwrap()
        .db_instance
        .unwrap();
    let host = instance.endpoint.unwrap().address.unwrap();
    let app = fx.stage_raw("AWSCURRENT").await;
    let master_arn = app["masterarn"].as_str().unwrap().to_owned();
    for (instance_arn, expect) in [
        (instance.db_instance_arn.clone().unwrap(), host.clone()),
        (
            "arn:aws:rds:us-east-1:123456789012:db:gone".to_owned(),
            "gone".to_owned(),
        ),
    ] {
        fx.sm()
            .put_secret_value()
            .secret_id(&master_arn)
            .secret_string(r#"{"username": "innovate_admin", "password": "password123"}"#)
            .send()
            .await
            .unwrap();
        fx.sm()
            .tag_resource()
            .secret_id(&master_arn)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("aws:rds:primaryDBInstanceArn")
                    .value(&instance_arn)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let token = fx.begin().await;
        fx.step("createSecret", &token).await.unwrap();
        let err = fx.step("setSecret", &token).await.unwrap_err();
        let msg = caretaker_shared::error::chain(&err);
        assert!(msg.contains(&expect), "{msg}");
        assert!(!msg.contains("password123"), "{msg}");
        let current = fx.stage_raw("AWSCURRENT").await;
        assert_eq!(current, app, "AWSCURRENT untouched");
    }
}

/// A secret whose rotation was switched off is refused by every step, as AWS's reference
/// functions do, and nothing is written (the step's reads go out beside DescribeSecret, but no
/// write happens before its answer is checked).
#[tokio::test]
async fn rotation_disabled_is_refused_and_changes_nothing() {
    let fx = Fixture::new(Strategy::SingleUser).await;
    let token = uuid::Uuid::new_v4().to_string();
    // A rotation requested without rules: DescribeSecret answers RotationEnabled=false.
    fx.sm()
        .rotate_secret()
        .secret_id(&fx.secret)
        .client_request_token(&token)
        .send()
        .await
        .unwrap();
    let enabled = fx.describe().await.rotation_enabled;
    assert_eq!(
        enabled,
        Some(false),
        "the emulator's state is what the test needs"
    );
    // (moto's RotateSecret also detaches AWSCURRENT, so "nothing changed" is read from the
    // versions and their stages, before and after.)
    let versions = || async {
        let mut v: Vec<(String, Vec<String>)> = fx
            .sm()
            .list_secret_version_ids()
            .secret_id(&fx.secret)
            .send()
            .await
            .unwrap()
            .versions
            .unwrap_or_default()
            .into_iter()
            .map(|v| {
                (
                    v.version_id.unwrap_or_default(),
                    v.version_stages.unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = versions().await;
    for step in STEPS {
        let err = fx.step(step, &token).await.unwrap_err();
        assert!(
            matches!(err, RotatorError::RotationDisabled { .. }),
            "{step}: {err}"
        );
        assert!(err.to_string().contains("not enabled for rotation"));
    }
    assert_eq!(
        versions().await,
        before,
        "no version written, no stage moved"
    );
}
