//! Every AWS call of the rotator: the handful of Secrets Manager calls the rotation protocol
//! makes (every read names its stage explicitly: AWS defaults to AWSCURRENT, and being explicit
//! is also what emulators need), and the RDS lookup of an RDS-managed master secret's database.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use caretaker_shared::aws::{AwsError, tolerate};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::config::PasswordPolicy;
use crate::domain::Database;
use crate::error::RotatorError;

pub(crate) struct Metadata {
    pub(crate) rotation_enabled: Option<bool>,
    pub(crate) versions: HashMap<String, Vec<String>>,
    pub(crate) tags: HashMap<String, String>,
    /// The rule's interval in days (DescribeSecret computes it for a schedule expression too).
    pub(crate) every_days: Option<i64>,
    pub(crate) last_rotated: Option<DateTime<Utc>>,
}

fn chrono(t: Option<&aws_sdk_secretsmanager::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// The status of an instance or a cluster; `None` when RDS knows no such database.
pub(crate) async fn db_status(
    rds: &aws_sdk_rds::Client,
    db: &Database,
) -> Result<Option<String>, AwsError> {
    Ok(match db {
        Database::Instance(id) => {
            let res = rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await;
            tolerate(res, |e| e.is_db_instance_not_found_fault())
                .map_err(|e| AwsError::new("rds", "DescribeDBInstances", &e).on(id))?
                .and_then(|o| o.db_instances?.into_iter().next())
                .map(|i| i.db_instance_status.unwrap_or_default())
        }
        Database::Cluster(id) => {
            let res = rds
                .describe_db_clusters()
                .db_cluster_identifier(id)
                .send()
                .await;
            tolerate(res, |e| e.is_db_cluster_not_found_fault())
                .map_err(|e| AwsError::new("rds", "DescribeDBClusters", &e).on(id))?
                .and_then(|o| o.db_clusters?.into_iter().next())
                .map(|c| c.status.unwrap_or_default())
        }
    })
}

pub(crate) struct SecretStore {
    client: Client,
}

fn sm_err<E, R>(operation: &'static str, secret: &str, e: SdkError<E, R>) -> RotatorError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    AwsError::new("secretsmanager", operation, &e)
        .on(secret)
        .into()
}

/// Host and port of the instance or cluster that owns an RDS-managed master secret, named by
/// the secret's `aws:rds:primaryDBInstanceArn` or `aws:rds:primaryDBClusterArn` tag.
pub(crate) async fn rds_endpoint(
    rds: &aws_sdk_rds::Client,
    master_arn: &str,
    tags: &HashMap<String, String>,
) -> Result<(String, u16), RotatorError> {
    let lookup = |reason: String| RotatorError::MasterLookup {
        secret: master_arn.to_owned(),
        reason,
    };
    let id = |arn: &str| arn.rsplit(':').next().unwrap_or(arn).to_owned();
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok()).unwrap_or(5432);
    let (address, p) = if let Some(arn) = tags.get("aws:rds:primaryDBInstanceArn") {
        let out = rds
            .describe_db_instances()
            .db_instance_identifier(id(arn))
            .send()
            .await
            .map_err(|e| lookup(caretaker_shared::error::chain(&e)))?;
        let ep = out
            .db_instances
            .unwrap_or_default()
            .into_iter()
            .find_map(|i| i.endpoint)
            .ok_or_else(|| lookup(format!("instance {arn} has no endpoint yet")))?;
        (ep.address, ep.port)
    } else if let Some(arn) = tags.get("aws:rds:primaryDBClusterArn") {
        let out = rds
            .describe_db_clusters()
            .db_cluster_identifier(id(arn))
            .send()
            .await
            .map_err(|e| lookup(caretaker_shared::error::chain(&e)))?;
        let c = out
            .db_clusters
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| lookup(format!("cluster {arn} not found")))?;
        (c.endpoint, c.port)
    } else {
        return Err(lookup(
            "it has no host and no aws:rds:primaryDBInstanceArn / primaryDBClusterArn tag".into(),
        ));
    };
    Ok((address.unwrap_or_default(), port(p)))
}

impl SecretStore {
    pub(crate) fn new(client: Client) -> Self {
        SecretStore { client }
    }

    pub(crate) async fn describe(&self, secret: &str) -> Result<Metadata, RotatorError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| sm_err("DescribeSecret", secret, e))?;
        Ok(Metadata {
            every_days: out
                .rotation_rules
                .as_ref()
                .and_then(|r| r.automatically_after_days),
            last_rotated: chrono(out.last_rotated_date.as_ref()),
            rotation_enabled: out.rotation_enabled,
            versions: out.version_ids_to_stages.unwrap_or_default(),
            tags: caretaker_shared::tag_map(
                out.tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.key, t.value)),
            )
            .into_iter()
            .collect(),
        })
    }

    /// When a version was created: for AWSCURRENT, how old the credentials in use are.
    pub(crate) async fn version_created(
        &self,
        secret: &str,
        version: &str,
    ) -> Result<Option<DateTime<Utc>>, RotatorError> {
        let mut pages = self
            .client
            .list_secret_version_ids()
            .secret_id(secret)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sm_err("ListSecretVersionIds", secret, e))?;
            if let Some(v) = page
                .versions
                .unwrap_or_default()
                .into_iter()
                .find(|v| v.version_id.as_deref() == Some(version))
            {
                return Ok(chrono(v.created_date.as_ref()));
            }
        }
        Ok(None)
    }

    /// The value at `stage` (and `version`, if given); `None` when no such version exists.
    pub(crate) async fn get(
        &self,
        secret: &str,
        stage: &str,
        version: Option<&str>,
    ) -> Result<Option<String>, RotatorError> {
        let res = self
            .client
            .get_secret_value()
            .secret_id(secret)
            .version_stage(stage)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await;
        Ok(tolerate(res, |e| e.is_resource_not_found_exception())
            .map_err(|e| sm_err("GetSecretValue", secret, e))?
            .and_then(|out| out.secret_string))
    }

    pub(crate) async fn random_password(
        &self,
        secret: &str,
        p: &PasswordPolicy,
    ) -> Result<SecretString, RotatorError> {
        let out = self
            .client
            .get_random_password()
            .exclude_characters(&p.exclude_characters)
            .password_length(p.length)
            .exclude_numbers(p.exclude_numbers)
            .exclude_punctuation(p.exclude_punctuation)
            .exclude_uppercase(p.exclude_uppercase)
            .exclude_lowercase(p.exclude_lowercase)
            .require_each_included_type(p.require_each_included_type)
            .send()
            .await
            .map_err(|e| sm_err("GetRandomPassword", secret, e))?;
        out.random_password
            .map(SecretString::from)
            .ok_or_else(|| RotatorError::MissingVersion {
                secret: secret.to_owned(),
                stage: "random password".into(),
            })
    }

    pub(crate) async fn put_pending(
        &self,
        secret: &str,
        token: &str,
        value: String,
        rotation_token: Option<&str>,
    ) -> Result<(), RotatorError> {
        self.client
            .put_secret_value()
            .secret_id(secret)
            .client_request_token(token)
            .secret_string(value)
            .version_stages(crate::domain::PENDING)
            .set_rotation_token(rotation_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sm_err("PutSecretValue", secret, e))?;
        Ok(())
    }

    pub(crate) async fn promote(
        &self,
        secret: &str,
        token: &str,
        from_version: Option<&str>,
    ) -> Result<(), RotatorError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret)
            .version_stage(crate::domain::CURRENT)
            .move_to_version_id(token)
            .set_remove_from_version_id(from_version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| sm_err("UpdateSecretVersionStage", secret, e))?;
        Ok(())
    }
}
