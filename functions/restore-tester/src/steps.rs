//! The steps of a restore test. Each is short (no step waits: the state machine does), takes the
//! clock from its caller, and is safe to run twice: start reuses the instance it already
//! requested, credentials reuse the temporary secret, cleanup treats "already gone" as done.

use std::time::Instant;

use aws_sdk_rds::types::{DbInstance, Tag};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use secrecy::{ExposeSecret, SecretString};
use tracing::{info, warn};

use caretaker_shared::pg::Target;

use crate::Deps;
use crate::checks;
use crate::error::{RestoreError, aws};
use crate::run::*;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn tags_of(i: &DbInstance) -> std::collections::BTreeMap<String, String> {
    i.tag_list
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value?)))
        .collect()
}

/// RDS identifiers: a letter first, letters, digits and single hyphens, at most 63 characters.
pub fn valid_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// `rt-<source>-<8 chars of the run id>`, within RDS's rules.
pub fn restore_identifier(source: &str, run_id: &str) -> String {
    let short: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_lowercase();
    let mut base: String = source.chars().take(50).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("rt-{base}-{short}")
}

async fn instance(deps: &Deps, id: &str) -> Result<Option<DbInstance>, RestoreError> {
    match deps
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances.unwrap_or_default().into_iter().next()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws("rds", "DescribeDBInstances", e)),
    }
}

pub async fn start(
    deps: &Deps,
    run_id: &str,
    input: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Run, RestoreError> {
    let input: StartInput = serde_json::from_value(input).map_err(|e| {
        RestoreError::BadInput(format!(
            "{e}; expected {{\"sourceInstance\", \"snapshot\"?, \"dryRun\"?}}"
        ))
    })?;
    if !valid_identifier(&input.source_instance) {
        return Err(RestoreError::BadInput(format!(
            "sourceInstance {:?} is not a DB instance identifier",
            input.source_instance
        )));
    }
    if let Some(s) = &input.snapshot
        && !valid_identifier(s.trim_start_matches("rds:"))
    {
        return Err(RestoreError::BadInput(format!(
            "snapshot {s:?} is not a snapshot identifier"
        )));
    }
    if run_id.trim().is_empty() {
        return Err(RestoreError::BadInput("runId is empty".into()));
    }
    let source = instance(deps, &input.source_instance)
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
            let out = deps
                .rds
                .describe_db_snapshots()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map_err(|e| aws("rds", "DescribeDBSnapshots", e))?;
            let s = out
                .db_snapshots
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or_else(|| RestoreError::NotFound(format!("snapshot {id} not found")))?;
            (
                id.clone(),
                s.snapshot_create_time
                    .and_then(|t| DateTime::from_timestamp(t.secs(), 0))
                    .unwrap_or(now),
            )
        }
        None => {
            let out = deps
                .rds
                .describe_db_snapshots()
                .db_instance_identifier(&input.source_instance)
                .snapshot_type("automated")
                .send()
                .await
                .map_err(|e| aws("rds", "DescribeDBSnapshots", e))?;
            out.db_snapshots
                .unwrap_or_default()
                .into_iter()
                .filter(|s| s.status.as_deref() == Some("available"))
                .filter_map(|s| {
                    Some((
                        s.db_snapshot_identifier?,
                        s.snapshot_create_time
                            .and_then(|t| DateTime::from_timestamp(t.secs(), 0))?,
                    ))
                })
                .max_by_key(|(_, t)| *t)
                .ok_or_else(|| {
                    RestoreError::NotFound(format!(
                        "no available automated snapshot of {}",
                        input.source_instance
                    ))
                })?
        }
    };
    let restore_instance = restore_identifier(&input.source_instance, run_id);
    let deadline = now
        + ChronoDuration::from_std(deps.config.max_duration).unwrap_or(ChronoDuration::hours(3));
    let mut run = Run {
        run_id: run_id.to_owned(),
        source_instance: input.source_instance.clone(),
        snapshot_id,
        snapshot_time,
        restore_instance,
        instance_class: deps.config.instance_class.clone(),
        started_at: now,
        deadline,
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
    let expires =
        now + ChronoDuration::from_std(deps.config.expiry).unwrap_or(ChronoDuration::hours(6));
    let res = deps
        .rds
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier(&run.restore_instance)
        .db_snapshot_identifier(&run.snapshot_id)
        .db_instance_class(&run.instance_class)
        .set_db_subnet_group_name(deps.config.subnet_group.clone())
        .set_vpc_security_group_ids(
            Some(deps.config.security_groups.clone()).filter(|v| !v.is_empty()),
        )
        .multi_az(false)
        .publicly_accessible(false)
        .deletion_protection(false)
        .copy_tags_to_snapshot(false)
        .tags(tag(TAG_MARK, "true"))
        .tags(tag(TAG_RUN, run_id))
        .tags(tag(TAG_EXPIRES, &expires.to_rfc3339()))
        .tags(tag("caretaker:source", &run.source_instance))
        .tags(tag("project", "caretaker"))
        .tags(tag("env", "restore-test"))
        .tags(tag("cost_center", "platform"))
        .send()
        .await;
    match res {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_instance_already_exists_fault()) =>
        {
            // A retry of this step: the instance must be ours to reuse it.
            let existing = instance(deps, &run.restore_instance).await?;
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
        Err(e) => return Err(aws("rds", "RestoreDBInstanceFromDBSnapshot", e)),
    }
    run.restore_requested_at = Some(now);
    run.status = "restoring".into();
    info!(run_id, instance = %run.restore_instance, snapshot = %run.snapshot_id, "restore requested");
    Ok(run)
}

pub async fn poll(
    deps: &Deps,
    mut run: Run,
    phase: &str,
    now: DateTime<Utc>,
) -> Result<Run, RestoreError> {
    if now > run.deadline {
        return Err(RestoreError::DeadlineExceeded(format!(
            "deadline {} passed while waiting for {phase}",
            run.deadline
        )));
    }
    let i = instance(deps, &run.restore_instance)
        .await?
        .ok_or_else(|| {
            RestoreError::NotFound(format!(
                "restored instance {} disappeared",
                run.restore_instance
            ))
        })?;
    run.polls += 1;
    run.status = i.db_instance_status.clone().unwrap_or_default();
    let available = run.status == "available";
    run.ready = match phase {
        "available" => available,
        "credentials" => {
            available
                && i.pending_modified_values
                    .as_ref()
                    .and_then(|p| p.master_user_password.as_ref())
                    .is_none()
        }
        other => {
            return Err(RestoreError::BadInput(format!(
                "unknown poll phase {other:?}"
            )));
        }
    };
    if run.ready {
        match phase {
            "available" => run.available_at = run.available_at.or(Some(now)),
            _ => run.credentials_at = run.credentials_at.or(Some(now)),
        }
        // Each waiting phase starts its poll count afresh.
        run.polls = 0;
    }
    Ok(run)
}

fn secret_name(run_id: &str) -> String {
    format!("{SECRET_PREFIX}{run_id}")
}

/// A fresh master password for the throwaway instance, kept only in a temporary secret.
pub async fn credentials(
    deps: &Deps,
    mut run: Run,
    now: DateTime<Utc>,
) -> Result<Run, RestoreError> {
    let name = secret_name(&run.run_id);
    let password: SecretString = match deps.sm.get_secret_value().secret_id(&name).send().await {
        Ok(out) => SecretString::from(out.secret_string.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let pw = deps
                .sm
                .get_random_password()
                .password_length(32)
                .exclude_characters("/@\"' \\")
                .send()
                .await
                .map_err(|e| aws("secretsmanager", "GetRandomPassword", e))?
                .random_password
                .unwrap_or_default();
            let expires = now
                + ChronoDuration::from_std(deps.config.expiry).unwrap_or(ChronoDuration::hours(6));
            let created = deps
                .sm
                .create_secret()
                .name(&name)
                .description(format!(
                    "Caretaker restore test {}: master password of {}",
                    run.run_id, run.restore_instance
                ))
                .secret_string(pw.clone())
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(TAG_MARK)
                        .value("true")
                        .build(),
                )
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(TAG_RUN)
                        .value(&run.run_id)
                        .build(),
                )
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(TAG_EXPIRES)
                        .value(expires.to_rfc3339())
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws("secretsmanager", "CreateSecret", e))?;
            run.secret_arn = created.arn;
            SecretString::from(pw)
        }
        Err(e) => return Err(aws("secretsmanager", "GetSecretValue", e)),
    };
    if run.secret_arn.is_none() {
        run.secret_arn = Some(name.clone());
    }
    deps.rds
        .modify_db_instance()
        .db_instance_identifier(&run.restore_instance)
        .master_user_password(password.expose_secret())
        .backup_retention_period(0)
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| aws("rds", "ModifyDBInstance", e))?;
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
    let i = instance(deps, &run.restore_instance)
        .await?
        .ok_or_else(|| {
            RestoreError::NotFound(format!(
                "restored instance {} disappeared",
                run.restore_instance
            ))
        })?;
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
    let password = deps
        .sm
        .get_secret_value()
        .secret_id(secret_name(&run.run_id))
        .send()
        .await
        .map_err(|e| aws("secretsmanager", "GetSecretValue", e))?
        .secret_string
        .unwrap_or_default();
    let target = Target {
        host: host.clone(),
        port,
        user: i
            .master_username
            .clone()
            .unwrap_or_else(|| "postgres".into()),
        password: SecretString::from(password),
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

/// Delete what this run created: instances tagged with its run id (found by tag, so a run whose
/// state was lost is cleaned too) and its temporary secret. Only tagged restore-test instances
/// are ever deleted.
pub async fn cleanup(deps: &Deps, run_id: &str, state: &State) -> Result<Cleanup, RestoreError> {
    let mut done = Cleanup::default();
    let mut targets: Vec<String> = state
        .run
        .iter()
        .map(|r| r.restore_instance.clone())
        .collect();
    for i in list_instances(deps).await? {
        let t = tags_of(&i);
        if t.get(TAG_RUN).map(String::as_str) == Some(run_id)
            && let Some(id) = i.db_instance_identifier
            && !targets.contains(&id)
        {
            targets.push(id);
        }
    }
    for id in targets {
        match instance(deps, &id).await? {
            None => done.already_gone.push(id),
            Some(i) if tags_of(&i).get(TAG_MARK).map(String::as_str) != Some("true") => {
                return Err(RestoreError::Refused(format!(
                    "{id} is not tagged {TAG_MARK}=true; not deleting it"
                )));
            }
            Some(_) => {
                delete_instance(deps, &id).await?;
                done.deleted_instances.push(id);
            }
        }
    }
    let name = secret_name(run_id);
    if delete_secret(deps, &name).await? {
        done.deleted_secrets.push(name);
    } else {
        done.already_gone.push(name);
    }
    info!(run_id, deleted = ?done.deleted_instances, "cleaned up");
    Ok(done)
}

async fn delete_instance(deps: &Deps, id: &str) -> Result<(), RestoreError> {
    match deps
        .rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
        {
            Ok(())
        }
        // Already being deleted.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_invalid_db_instance_state_fault()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws("rds", "DeleteDBInstance", e)),
    }
}

async fn delete_secret(deps: &Deps, id: &str) -> Result<bool, RestoreError> {
    match deps
        .sm
        .delete_secret()
        .secret_id(id)
        .force_delete_without_recovery(true)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(aws("secretsmanager", "DeleteSecret", e)),
    }
}

async fn list_instances(deps: &Deps) -> Result<Vec<DbInstance>, RestoreError> {
    let mut out = Vec::new();
    let mut pages = deps.rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        out.extend(
            page.map_err(|e| aws("rds", "DescribeDBInstances", e))?
                .db_instances
                .unwrap_or_default(),
        );
    }
    Ok(out)
}

fn expired(tags: &std::collections::BTreeMap<String, String>, now: DateTime<Utc>) -> bool {
    tags.get(TAG_MARK).map(String::as_str) == Some("true")
        && tags
            .get(TAG_EXPIRES)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t.with_timezone(&Utc) < now)
}

/// The sweeper: delete every restore-test instance and secret past its expiry, nothing else.
pub async fn sweep(
    deps: &Deps,
    now: DateTime<Utc>,
) -> Result<caretaker_shared::RunReport, RestoreError> {
    use caretaker_shared::report::Outcome;
    let mut report =
        caretaker_shared::RunReport::new("restore-tester", "sweep", deps.config.common.dry_run);
    for i in list_instances(deps).await? {
        let id = i.db_instance_identifier.clone().unwrap_or_default();
        let tags = tags_of(&i);
        if !tags.contains_key(TAG_MARK) {
            continue;
        }
        if !expired(&tags, now) {
            report.record(
                "rds-instance",
                &id,
                Outcome::skipped("restore-test instance not expired yet"),
            );
            continue;
        }
        if deps.config.common.dry_run {
            report.record("rds-instance", &id, Outcome::changed("delete (expired)"));
            continue;
        }
        match delete_instance(deps, &id).await {
            Ok(()) => report.record("rds-instance", &id, Outcome::changed("deleted (expired)")),
            Err(e) => report.record("rds-instance", &id, Outcome::failed(e.to_string())),
        };
    }
    let mut pages = deps
        .sm
        .list_secrets()
        .filters(
            aws_sdk_secretsmanager::types::Filter::builder()
                .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                .values(SECRET_PREFIX)
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("secretsmanager", "ListSecrets", e))?;
        for s in page.secret_list.unwrap_or_default() {
            let name = s.name.clone().unwrap_or_default();
            if !name.starts_with(SECRET_PREFIX) {
                continue;
            }
            let tags: std::collections::BTreeMap<String, String> = s
                .tags
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value?)))
                .collect();
            if !expired(&tags, now) {
                report.record(
                    "secret",
                    &name,
                    Outcome::skipped("restore-test secret not expired yet"),
                );
                continue;
            }
            if deps.config.common.dry_run {
                report.record("secret", &name, Outcome::changed("delete (expired)"));
                continue;
            }
            match delete_secret(deps, &name).await {
                Ok(_) => report.record("secret", &name, Outcome::changed("deleted (expired)")),
                Err(e) => {
                    warn!(secret = %name, error = %e, "sweep could not delete");
                    report.record("secret", &name, Outcome::failed(e.to_string()))
                }
            };
        }
    }
    Ok(report.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_identifiers_follow_rds_rules() {
        let id = restore_identifier("innovate-prod-db", "6f1c2a7e-90ab-4cde-8f00-1234567890ab");
        assert_eq!(id, "rt-innovate-prod-db-6f1c2a7e");
        assert!(valid_identifier(&id));
        let long = restore_identifier(&"a".repeat(63), "Run_ID!!");
        assert!(valid_identifier(&long) && long.len() <= 63, "{long}");
        assert!(
            !valid_identifier("1db")
                && !valid_identifier("a--b")
                && !valid_identifier("a-")
                && !valid_identifier("a_b")
        );
    }
}
