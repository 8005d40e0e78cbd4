//! secret-rotator and the night: a rotation that finds its database stopped waits (a retryable
//! error naming the database, nothing changed), the hourly `resume` finishes it once the
//! database is available, the daily `check` reports what needs a person, and Secrets Manager's
//! `RotationFailed` event becomes a notice with the cause the rotator can see. Against moto's
//! Secrets Manager and RDS, the real PostgreSQL 15, and an SNS topic captured by a queue.

use caretaker_shared::error::{Classify, ErrorKind};
use caretaker_shared::notify::{Notifiers, SnsSink};
use caretaker_shared::report::Outcome;
use secrecy::ExposeSecret;
use secret_rotator::config::Strategy;
use secret_rotator::event::Command;
use secret_rotator::handler::check;
use secret_rotator::{Deps, RotatorError};

use crate::rotator::{Fixture, STEPS, secret_json};
use crate::support::*;

/// A rotator fixture whose secret names a moto RDS instance (as RDS's own secrets do with
/// `dbInstanceIdentifier`), managed by the rotator, with its notices captured.
struct Night {
    fx: Fixture,
    rds: aws_sdk_rds::Client,
    db: String,
    queue: String,
}

impl Night {
    async fn new() -> Night {
        let mut fx = Fixture::new(Strategy::SingleUser).await;
        let rds = aws_sdk_rds::Client::new(&fx.sdk);
        let db = "innovate-dev-db".to_owned();
        rds_instance(&fx.sdk, &db, &[]).await;
        fx.sm()
            .put_secret_value()
            .secret_id(&fx.secret)
            .secret_string(secret_json(
                &fx.user,
                "initial-Passw0rd",
                serde_json::json!({ "dbInstanceIdentifier": db }),
            ))
            .version_stages("AWSCURRENT")
            .send()
            .await
            .unwrap();
        let (sns, topic, queue) = alert_topic(&fx.sdk).await;
        let mut config = fx.deps.config.clone();
        config.managed_secrets = [fx.secret.clone()].into();
        fx.deps = Deps::new(&fx.sdk, config)
            .unwrap()
            .with_notifiers(Notifiers::new(vec![Box::new(SnsSink::new(sns, &topic))]));
        Night { fx, rds, db, queue }
    }

    async fn stop(&self) {
        self.rds
            .stop_db_instance()
            .db_instance_identifier(&self.db)
            .send()
            .await
            .unwrap();
    }

    async fn start(&self) {
        self.rds
            .start_db_instance()
            .db_instance_identifier(&self.db)
            .send()
            .await
            .unwrap();
    }

    async fn notices(&self) -> Vec<String> {
        drain(&self.fx.sdk, &self.queue).await
    }
}

/// An hour from now: the rotations begun in a test have stalled by then.
fn later() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::hours(1)
}

fn outcome(r: &caretaker_shared::RunReport) -> &Outcome {
    &r.resources[0].outcome
}

#[tokio::test]
async fn a_rotation_finding_its_database_stopped_waits_then_resume_finishes_it() {
    let night = Night::new().await;
    let fx = &night.fx;
    let before = fx.stage("AWSCURRENT").await;
    night.stop().await;

    // Secrets Manager begins the rotation at night: createSecret writes the pending value (no
    // database needed), setSecret finds the database stopped.
    let token = fx.begin().await;
    fx.step("createSecret", &token).await.unwrap();
    let err = fx.step("setSecret", &token).await.unwrap_err();
    assert!(matches!(err, RotatorError::DatabaseAsleep { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Retryable);
    let msg = err.to_string();
    assert!(
        msg.contains("database innovate-dev-db is stopped") && msg.contains("waits"),
        "{msg}"
    );
    let test_err = fx.step("testSecret", &token).await.unwrap_err();
    assert!(matches!(test_err, RotatorError::DatabaseAsleep { .. }));
    assert_eq!(
        fx.stage("AWSCURRENT").await.password.expose_secret(),
        before.password.expose_secret(),
        "AWSCURRENT untouched"
    );

    // Right after it began, the rotation is Secrets Manager's: the resume leaves it alone.
    let fresh = check::resume(&fx.deps, false, chrono::Utc::now()).await;
    assert!(
        matches!(outcome(&fresh), Outcome::Skipped { reason } if reason.contains("left to Secrets Manager")),
        "{:?}",
        fresh.resources
    );
    // The hourly resume while it is still stopped: waits, says for what, changes nothing.
    let waiting = check::resume(&fx.deps, false, later()).await;
    assert!(
        matches!(outcome(&waiting), Outcome::Skipped { reason } if reason.contains("waits for database innovate-dev-db (stopped)")),
        "{:?}",
        waiting.resources
    );
    assert!(night.notices().await.is_empty(), "no hourly noise");

    // Morning: the database is back; the next resume finishes the same rotation.
    night.start().await;
    let done = check::resume(&fx.deps, false, later()).await;
    assert!(
        matches!(outcome(&done), Outcome::Changed { action } if action.contains(&format!("finished rotation {token}"))),
        "{:?}",
        done.resources
    );
    let after = fx.stage("AWSCURRENT").await;
    assert_ne!(
        after.password.expose_secret(),
        before.password.expose_secret()
    );
    fx.logs_in(&after).await.expect("the new password logs in");
    let current_version = fx
        .describe()
        .await
        .version_ids_to_stages
        .unwrap()
        .into_iter()
        .find(|(_, s)| s.iter().any(|s| s == "AWSCURRENT"))
        .unwrap()
        .0;
    assert_eq!(current_version, token, "the rotation's own version");
    let notices = night.notices().await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("finished after its database came back"),
        "{}",
        notices[0]
    );

    // Safe to run twice: nothing left to finish.
    let again = check::resume(&fx.deps, false, later()).await;
    assert_eq!(
        outcome(&again),
        &Outcome::Unchanged,
        "{:?}",
        again.resources
    );
    // Every step of the finished rotation answers "already AWSCURRENT".
    for step in STEPS {
        assert_eq!(fx.step(step, &token).await.unwrap().totals.skipped, 1);
    }
}

#[tokio::test]
async fn the_daily_check_reports_what_needs_a_person_and_a_dry_run_sends_nothing() {
    let mut night = Night::new().await;
    night.stop().await;
    let token = night.fx.begin().await;
    night.fx.step("createSecret", &token).await.unwrap();
    let mut config = night.fx.deps.config.clone();
    config
        .managed_secrets
        .insert("innovate/dev/never-created".to_owned());
    let notifiers = {
        let (sns, topic, queue) = alert_topic(&night.fx.sdk).await;
        night.queue = queue;
        Notifiers::new(vec![Box::new(SnsSink::new(sns, &topic))])
    };
    night.fx.deps = Deps::new(&night.fx.sdk, config)
        .unwrap()
        .with_notifiers(notifiers);

    let dry = check::check(&night.fx.deps, true, later()).await;
    assert_eq!(dry.totals.failed, 1, "{:?}", dry.resources);
    assert!(night.notices().await.is_empty(), "a dry run sends nothing");

    let report = check::check(&night.fx.deps, false, later()).await;
    let notices = night.notices().await;
    assert_eq!(notices.len(), 1, "one notice for all: {notices:?}");
    let n = &notices[0];
    assert!(n.starts_with("[CRITICAL] 2 secrets need attention"), "{n}");
    assert!(
        n.contains("a rotation waits for database innovate-dev-db (stopped)"),
        "{n}"
    );
    assert!(
        n.contains("innovate/dev/never-created: could not be read"),
        "{n}"
    );
    assert!(!n.contains("initial-Passw0rd"), "{n}");
    let sent = report
        .resources
        .iter()
        .find(|r| r.kind == "notification")
        .unwrap();
    assert!(matches!(&sent.outcome, Outcome::Changed { .. }));
}

#[tokio::test]
async fn a_secret_nothing_rotates_is_reported_by_the_check() {
    let night = Night::new().await;
    let report = check::check(&night.fx.deps, false, later()).await;
    assert!(
        matches!(outcome(&report), Outcome::Skipped { reason } if reason.contains("rotation is not enabled")),
        "{:?}",
        report.resources
    );
    let notices = night.notices().await;
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains("1 not rotating"), "{}", notices[0]);
}

fn rotation_failed(secret: &str) -> serde_json::Value {
    let mut ev: serde_json::Value = serde_json::from_str(include_str!(
        "../../events/secret-rotator/rotation-failed.json"
    ))
    .unwrap();
    ev["detail"]["additionalEventData"]["SecretId"] = secret.into();
    ev
}

#[tokio::test]
async fn a_rotation_failed_event_becomes_a_notice_with_the_cause_it_can_see() {
    let night = Night::new().await;
    night.stop().await;
    let Command::RotationFailed { secret_id, at } =
        Command::parse(rotation_failed(&night.fx.secret)).unwrap()
    else {
        panic!("not a RotationFailed")
    };
    let report = check::rotation_failed(&night.fx.deps, &secret_id, at.as_deref()).await;
    assert!(
        matches!(outcome(&report), Outcome::Changed { action } if action.starts_with("alert sent")),
        "{:?}",
        report.resources
    );
    let notices = night.notices().await;
    assert_eq!(notices.len(), 1);
    let n = &notices[0];
    assert!(n.starts_with("[WARNING] Rotation of "), "{n}");
    assert!(n.contains("database innovate-dev-db is stopped"), "{n}");
    assert!(n.contains("within the hour"), "{n}");

    // A secret this stack does not manage: said so, and critical (nothing resumes it).
    let other = "arn:aws:secretsmanager:us-east-1:222222222222:secret:other/app-AbCdEf";
    check::rotation_failed(&night.fx.deps, other, None).await;
    let n = night.notices().await.pop().unwrap();
    assert!(
        n.starts_with("[CRITICAL] Rotation of other/app failed"),
        "{n}"
    );
    assert!(n.contains("nothing here resumes it"), "{n}");
}
