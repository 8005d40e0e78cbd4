//! The steps of a restore test, one function each: read → decide (`domain`) → act (`aws`) →
//! the step's result. No step waits (the state machine does); each takes the clock from its
//! caller and is safe to run twice: start reuses the instance it already requested, credentials
//! reuse the temporary secret, cleanup treats "already gone" as done.

use std::time::Instant;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use secrecy::SecretString;
use tracing::{info, warn};

use caretaker_shared::pg::Target;
use caretaker_shared::report::{Outcome, RunReport};

use crate::aws::{self, tags_of};
use crate::domain::{self, Phase, restore_identifier, secret_name};
use crate::error::RestoreError;
use crate::run::*;
use crate::{Deps, FUNCTION, checks, event};

fn hours(d: std::time::Duration, default: i64) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::hours(default))
}

/// Plan the run: the source (which must exist, in an allowed account), the snapshot (named, or
/// the newest available automated one), and, unless a dry run, the restore request.
pub async fn start(
    deps: &Deps,
    run_id: &str,
    input: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Run, RestoreError> {
    // Checked here too, not only in `event::parse`: the step is public and names a secret and
    // an instance after the run id.
    let input = event::start_input(input)?;
    event::check_run_id(run_id)?;
    let source = aws::instance(deps, &input.source_instance)
        .await?
        .ok_or_else(|| {
            RestoreError::NotFound(format!(
                "source instance {} not found",
                input.source_instance
            ))
        })?;
    let account = source
        .db_instance_arn
        .as_deref()
        .and_then(|a| a.split(':').nth(4))
        .unwrap_or("")
        .to_owned();
    if !account.is_empty() && !deps.config.common.allowed_accounts.is_empty() {
        deps.guard_account(&account)?;
    }
    let (snapshot_id, snapshot_time) = match &input.snapshot {
        Some(id) => {
            let created = aws::snapshot(deps, id)
                .await?
                .ok_or_else(|| RestoreError::NotFound(format!("snapshot {id} not found")))?;
            (id.clone(), created.unwrap_or(now))
        }
        None => aws::automated_snapshots(deps, &input.source_instance)
            .await?
            .into_iter()
            .max_by_key(|(_, t)| *t)
            .ok_or_else(|| {
                RestoreError::NotFound(format!(
                    "no available automated snapshot of {}",
                    input.source_instance
                ))
            })?,
    };
    let mut run = Run {
        run_id: run_id.to_owned(),
        source_instance: input.source_instance.clone(),
        snapshot_id,
        snapshot_time,
        restore_instance: restore_identifier(&input.source_instance, run_id),
        instance_class: deps.config.instance_class.clone(),
        started_at: now,
        deadline: now + hours(deps.config.max_duration, 3),
        restore_requested_at: None,
        available_at: None,
        credentials_requested_at: None,
        credentials_at: None,
        secret_arn: None,
        status: "planned".into(),
        ready: false,
        polls: 0,
        dry_run: input.dry_run || deps.config.common.dry_run,
    };
    if run.dry_run {
        info!(run_id, source = %run.source_instance, snapshot = %run.snapshot_id, "dry run: restore planned, nothing created");
        return Ok(run);
    }
    let expires = (now + hours(deps.config.expiry, 6)).to_rfc3339();
    let tags = [
        (TAG_MARK, "true"),
        (TAG_RUN, run_id),
        (TAG_EXPIRES, expires.as_str()),
        ("caretaker:source", run.source_instance.as_str()),
        ("project", "caretaker"),
        ("env", "restore-test"),
        ("cost_center", "platform"),
    ];
    if !aws::restore(deps, &run, &tags).await? {
        // A retry of this step: the instance must be ours to reuse it.
        let existing = aws::instance(deps, &run.restore_instance).await?;
        let ours = existing
            .as_ref()
            .is_some_and(|i| tags_of(i).get(TAG_RUN).map(String::as_str) == Some(run_id));
        if !ours {
            return Err(RestoreError::Refused(format!(
                "{} exists and is not this run's instance",
                run.restore_instance
            )));
        }
    }
    run.restore_requested_at = Some(now);
    run.status = "restoring".into();
    info!(run_id, instance = %run.restore_instance, snapshot = %run.snapshot_id, "restore requested");
    Ok(run)
}

pub async fn poll(
    deps: &Deps,
    mut run: Run,
    phase: Phase,
    now: DateTime<Utc>,
) -> Result<Run, RestoreError> {
    if now > run.deadline {
        return Err(RestoreError::DeadlineExceeded(format!(
            "deadline {} passed while waiting for {phase:?}",
            run.deadline
        )));
    }
    let i = restored(deps, &run).await?;
    run.polls += 1;
    run.status = i.db_instance_status.clone().unwrap_or_default();
    let pending_password = i
        .pending_modified_values
        .as_ref()
        .and_then(|p| p.master_user_password.as_ref())
        .is_some();
    run.ready = domain::ready(phase, &run.status, pending_password);
    if run.ready {
        match phase {
            Phase::Available => run.available_at = run.available_at.or(Some(now)),
            Phase::Credentials => run.credentials_at = run.credentials_at.or(Some(now)),
        }
        // Each waiting phase starts its poll count afresh.
        run.polls = 0;
    }
    Ok(run)
}

/// The run's restored instance, which must still exist.
async fn restored(deps: &Deps, run: &Run) -> Result<aws_sdk_rds::types::DbInstance, RestoreError> {
    aws::instance(deps, &run.restore_instance)
        .await?
        .ok_or_else(|| {
            RestoreError::NotFound(format!(
                "restored instance {} disappeared",
                run.restore_instance
            ))
        })
}

/// A fresh master password for the throwaway instance, kept only in a temporary secret.
pub async fn credentials(
    deps: &Deps,
    mut run: Run,
    now: DateTime<Utc>,
) -> Result<Run, RestoreError> {
    let name = secret_name(&run.run_id);
    let password = match aws::secret_value(deps, &name).await? {
        Some(pw) => pw,
        None => {
            let pw = aws::random_password(deps).await?;
            let expires = (now + hours(deps.config.expiry, 6)).to_rfc3339();
            let description = format!(
                "Caretaker restore test {}: master password of {}",
                run.run_id, run.restore_instance
            );
            let tags = [
                (TAG_MARK, "true"),
                (TAG_RUN, run.run_id.as_str()),
                (TAG_EXPIRES, expires.as_str()),
            ];
            run.secret_arn = aws::create_secret(deps, &name, description, &pw, &tags).await?;
            pw
        }
    };
    if run.secret_arn.is_none() {
        run.secret_arn = Some(name.clone());
    }
    aws::set_master_password(deps, &run.restore_instance, &password).await?;
    run.credentials_requested_at = Some(now);
    run.ready = false;
    run.polls = 0;
    info!(run_id = %run.run_id, instance = %run.restore_instance, "master password reset (kept in the temporary secret)");
    Ok(run)
}

pub async fn verify(
    deps: &Deps,
    run: &Run,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Verification, RestoreError> {
    let i = restored(deps, run).await?;
    let endpoint = i.endpoint.clone().ok_or_else(|| {
        RestoreError::NotFound(format!("{} has no endpoint", run.restore_instance))
    })?;
    let (host, port) = match &deps.config.verify_host_override {
        Some((h, p)) => (h.clone(), *p),
        None => (
            endpoint.address.unwrap_or_default(),
            endpoint
                .port
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(5432),
        ),
    };
    let password = aws::secret_value(deps, &secret_name(&run.run_id))
        .await?
        .unwrap_or_else(|| SecretString::from(String::new()));
    let target = Target {
        host: host.clone(),
        port,
        user: i
            .master_username
            .clone()
            .unwrap_or_else(|| "postgres".into()),
        password,
        dbname: i.db_name.clone().unwrap_or_else(|| "postgres".into()),
        tls: true,
        tls_server_name: None,
    };
    let session =
        deps.connector
            .connect(&target)
            .await
            .map_err(|source| RestoreError::Database {
                what: format!("connecting to the restored database at {host}"),
                source,
            })?;
    let connected_at = now();
    let mut results = Vec::new();
    let mut first_query_at = None;
    for check in &deps.config.checks {
        first_query_at.get_or_insert_with(&now);
        let t = Instant::now();
        let r = checks::run(
            &session,
            check,
            run.snapshot_time,
            deps.config.rpo_target_minutes,
        )
        .await;
        info!(run_id = %run.run_id, check = %r.name, passed = r.passed, ms = t.elapsed().as_millis() as u64, "check");
        results.push(r);
    }
    let passed = results.iter().all(|r| r.passed);
    Ok(Verification {
        host,
        connected_at,
        first_query_at: first_query_at.unwrap_or(connected_at),
        verified_at: now(),
        checks: results,
        passed,
    })
}

/// Delete what this run created, whatever fails: the temporary secret first (it holds a
/// working password for a copy of production data), then every instance tagged with the run id
/// (found by tag too, so a run whose state was lost is cleaned as well). Only instances tagged as
/// restore tests are ever deleted. Fails after trying everything, naming what is left.
pub async fn cleanup(deps: &Deps, run_id: &str, state: &State) -> Result<Cleanup, RestoreError> {
    let mut done = Cleanup::default();
    let mut left: Vec<String> = Vec::new();
    let name = secret_name(run_id);
    match aws::delete_secret(deps, &name).await {
        Ok(true) => done.deleted_secrets.push(name),
        Ok(false) => done.already_gone.push(name),
        Err(e) => left.push(format!("secret {name} ({e})")),
    }
    let mut targets: Vec<String> = state
        .run
        .iter()
        .map(|r| r.restore_instance.clone())
        .collect();
    match aws::list_instances(deps).await {
        Ok(all) => {
            for i in all {
                if tags_of(&i).get(TAG_RUN).map(String::as_str) == Some(run_id)
                    && let Some(id) = i.db_instance_identifier
                    && !targets.contains(&id)
                {
                    targets.push(id);
                }
            }
        }
        Err(e) => left.push(format!("instances of run {run_id} not listed ({e})")),
    }
    for id in targets {
        match delete_ours(deps, &id).await {
            Ok(true) => done.deleted_instances.push(id),
            Ok(false) => done.already_gone.push(id),
            Err(e) => left.push(format!("instance {id} ({e})")),
        }
    }
    info!(run_id, deleted = ?done.deleted_instances, left = ?left, "cleaned up");
    if left.is_empty() {
        Ok(done)
    } else {
        warn!(run_id, left = ?left, "cleanup left resources behind");
        Err(RestoreError::Leftovers(left.join("; ")))
    }
}

/// Delete an instance if it carries the restore-test mark; `false` when already gone.
async fn delete_ours(deps: &Deps, id: &str) -> Result<bool, RestoreError> {
    match aws::instance(deps, id).await? {
        None => Ok(false),
        Some(i) if tags_of(&i).get(TAG_MARK).map(String::as_str) != Some("true") => {
            Err(RestoreError::Refused(format!(
                "{id} is not tagged {TAG_MARK}=true; not deleting it"
            )))
        }
        Some(_) => aws::delete_instance(deps, id).await.map(|_| true),
    }
}

/// Something a restore test left behind: an instance or a temporary secret.
enum Leftover {
    Instance(String, caretaker_shared::Tags),
    Secret(String, caretaker_shared::Tags),
}

/// The sweeper: delete every restore-test instance and secret past its expiry, nothing else.
/// One failure (a list, a delete) never stops the rest; the report names each.
pub async fn sweep(deps: &Deps, now: DateTime<Utc>) -> Result<RunReport, RestoreError> {
    let dry_run = deps.config.common.dry_run;
    let mut report = RunReport::new(FUNCTION, "sweep", dry_run);
    let mut found = Vec::new();
    match aws::list_instances(deps).await {
        Ok(all) => found.extend(all.into_iter().map(|i| {
            let tags = tags_of(&i);
            Leftover::Instance(i.db_instance_identifier.unwrap_or_default(), tags)
        })),
        Err(e) => {
            report.record("rds", "-", Outcome::failed(e.to_string()));
        }
    }
    match aws::secrets(deps, SECRET_PREFIX).await {
        Ok(all) => found.extend(all.into_iter().map(|(n, t)| Leftover::Secret(n, t))),
        Err(e) => {
            report.record("secretsmanager", "-", Outcome::failed(e.to_string()));
        }
    }
    for leftover in found {
        let (kind, noun, id, tags) = match &leftover {
            Leftover::Instance(id, tags) => ("rds-instance", "instance", id, tags),
            Leftover::Secret(name, tags) => ("secret", "secret", name, tags),
        };
        if kind == "rds-instance" && !tags.contains_key(TAG_MARK) {
            continue;
        }
        let outcome = if !domain::expired(tags, now) {
            Outcome::skipped(format!("restore-test {noun} not expired yet"))
        } else if dry_run {
            Outcome::changed("delete (expired)")
        } else {
            let deleted = match &leftover {
                Leftover::Instance(..) => aws::delete_instance(deps, id).await,
                Leftover::Secret(..) => aws::delete_secret(deps, id).await,
            };
            match deleted {
                Ok(_) => Outcome::changed("deleted (expired)"),
                Err(e) => {
                    warn!(kind, id = %id, error = %e, "sweep could not delete");
                    Outcome::failed(e.to_string())
                }
            }
        };
        report.record(kind, id, outcome);
    }
    Ok(report.finish())
}
