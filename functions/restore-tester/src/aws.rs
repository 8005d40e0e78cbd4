//! Every AWS call of restore-tester: RDS (the source, its snapshots, the throwaway instance),
//! Secrets Manager (the temporary master password) and S3 (the evidence). Lookups that find
//! nothing answer `None`; deletes of what is already gone answer "already gone".

use aws_sdk_rds::types::{DbInstance, Tag};
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use caretaker_shared::aws::{aws_err, tolerate};
use caretaker_shared::{Tags, tag_map};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::Deps;
use crate::error::RestoreError;
use crate::run::Run;

pub(crate) fn tags_of(i: &DbInstance) -> Tags {
    tag_map(
        i.tag_list
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value)),
    )
}

pub(crate) async fn instance(deps: &Deps, id: &str) -> Result<Option<DbInstance>, RestoreError> {
    let res = deps
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await;
    Ok(tolerate(res, |e| e.is_db_instance_not_found_fault())
        .map_err(aws_err::<_, _, RestoreError>("rds", "DescribeDBInstances"))?
        .and_then(|out| out.db_instances.unwrap_or_default().into_iter().next()))
}

pub(crate) async fn list_instances(deps: &Deps) -> Result<Vec<DbInstance>, RestoreError> {
    let mut out = Vec::new();
    let mut pages = deps.rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err::<_, _, RestoreError>("rds", "DescribeDBInstances"))?;
        out.extend(page.db_instances.unwrap_or_default());
    }
    Ok(out)
}

fn time(t: Option<&aws_sdk_rds::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), 0))
}

/// A named snapshot's creation time; `None` when no such snapshot exists.
pub(crate) async fn snapshot(
    deps: &Deps,
    id: &str,
) -> Result<Option<Option<DateTime<Utc>>>, RestoreError> {
    let res = deps
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .send()
        .await;
    Ok(tolerate(res, |e| e.is_db_snapshot_not_found_fault())
        .map_err(aws_err::<_, _, RestoreError>("rds", "DescribeDBSnapshots"))?
        .and_then(|out| out.db_snapshots.unwrap_or_default().into_iter().next())
        .map(|s| time(s.snapshot_create_time.as_ref())))
}

/// The instance's available automated snapshots: (id, creation time).
pub(crate) async fn automated_snapshots(
    deps: &Deps,
    source: &str,
) -> Result<Vec<(String, DateTime<Utc>)>, RestoreError> {
    let out = deps
        .rds
        .describe_db_snapshots()
        .db_instance_identifier(source)
        .snapshot_type("automated")
        .send()
        .await
        .map_err(aws_err::<_, _, RestoreError>("rds", "DescribeDBSnapshots"))?;
    Ok(out
        .db_snapshots
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.status.as_deref() == Some("available"))
        .filter_map(|s| {
            let t = time(s.snapshot_create_time.as_ref())?;
            Some((s.db_snapshot_identifier?, t))
        })
        .collect())
}

/// Restore the run's snapshot into its throwaway instance, tagged as this function's. `false`
/// when an instance of that name already exists (a retry of the step).
pub(crate) async fn restore(
    deps: &Deps,
    run: &Run,
    tags: &[(&str, &str)],
) -> Result<bool, RestoreError> {
    let mut req = deps
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
        .copy_tags_to_snapshot(false);
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build());
    }
    let res = req.send().await;
    Ok(tolerate(res, |e| e.is_db_instance_already_exists_fault())
        .map_err(aws_err::<_, _, RestoreError>(
            "rds",
            "RestoreDBInstanceFromDBSnapshot",
        ))?
        .is_some())
}

/// Set the master password (and no backups: the copy is thrown away).
pub(crate) async fn set_master_password(
    deps: &Deps,
    instance: &str,
    password: &SecretString,
) -> Result<(), RestoreError> {
    deps.rds
        .modify_db_instance()
        .db_instance_identifier(instance)
        .master_user_password(password.expose_secret())
        .backup_retention_period(0)
        .apply_immediately(true)
        .send()
        .await
        .map_err(aws_err::<_, _, RestoreError>("rds", "ModifyDBInstance"))?;
    Ok(())
}

/// Delete an instance without a final snapshot; `false` when it was already gone (or is being
/// deleted).
pub(crate) async fn delete_instance(deps: &Deps, id: &str) -> Result<bool, RestoreError> {
    let res = deps
        .rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await;
    Ok(tolerate(res, |e| {
        e.is_db_instance_not_found_fault() || e.is_invalid_db_instance_state_fault()
    })
    .map_err(aws_err::<_, _, RestoreError>("rds", "DeleteDBInstance"))?
    .is_some())
}

/// A secret's string value; `None` when there is no such secret.
pub(crate) async fn secret_value(
    deps: &Deps,
    name: &str,
) -> Result<Option<SecretString>, RestoreError> {
    let res = deps.sm.get_secret_value().secret_id(name).send().await;
    Ok(tolerate(res, |e| e.is_resource_not_found_exception())
        .map_err(aws_err::<_, _, RestoreError>(
            "secretsmanager",
            "GetSecretValue",
        ))?
        .map(|out| SecretString::from(out.secret_string.unwrap_or_default())))
}

pub(crate) async fn random_password(deps: &Deps) -> Result<SecretString, RestoreError> {
    let pw = deps
        .sm
        .get_random_password()
        .password_length(32)
        .exclude_characters("/@\"' \\")
        .send()
        .await
        .map_err(aws_err::<_, _, RestoreError>(
            "secretsmanager",
            "GetRandomPassword",
        ))?
        .random_password
        .unwrap_or_default();
    Ok(SecretString::from(pw))
}

/// Create the temporary secret; its ARN.
pub(crate) async fn create_secret(
    deps: &Deps,
    name: &str,
    description: String,
    value: &SecretString,
    tags: &[(&str, &str)],
) -> Result<Option<String>, RestoreError> {
    let mut req = deps
        .sm
        .create_secret()
        .name(name)
        .description(description)
        .secret_string(value.expose_secret());
    for (k, v) in tags {
        req = req.tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build(),
        );
    }
    let out = req.send().await.map_err(aws_err::<_, _, RestoreError>(
        "secretsmanager",
        "CreateSecret",
    ))?;
    Ok(out.arn)
}

/// Delete a secret at once (no recovery window: it holds a live password); `false` when it was
/// already gone.
pub(crate) async fn delete_secret(deps: &Deps, id: &str) -> Result<bool, RestoreError> {
    let res = deps
        .sm
        .delete_secret()
        .secret_id(id)
        .force_delete_without_recovery(true)
        .send()
        .await;
    Ok(tolerate(res, |e| e.is_resource_not_found_exception())
        .map_err(aws_err::<_, _, RestoreError>(
            "secretsmanager",
            "DeleteSecret",
        ))?
        .is_some())
}

/// Secrets whose name starts with `prefix`, with their tags.
pub(crate) async fn secrets(
    deps: &Deps,
    prefix: &str,
) -> Result<Vec<(String, Tags)>, RestoreError> {
    let mut out = Vec::new();
    let mut pages = deps
        .sm
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values(prefix)
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err::<_, _, RestoreError>(
            "secretsmanager",
            "ListSecrets",
        ))?;
        for s in page.secret_list.unwrap_or_default() {
            let name = s.name.unwrap_or_default();
            if name.starts_with(prefix) {
                let tags = tag_map(
                    s.tags
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| (t.key, t.value)),
                );
                out.push((name, tags));
            }
        }
    }
    Ok(out)
}

/// Write the evidence, encrypted at rest whatever the bucket's default says.
pub(crate) async fn put_evidence(
    deps: &Deps,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<(), RestoreError> {
    deps.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(body.into())
        .send()
        .await
        .map_err(aws_err::<_, _, RestoreError>("s3", "PutObject"))?;
    Ok(())
}
