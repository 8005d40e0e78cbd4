//! Secrets Manager adapter: the handful of calls the rotation protocol makes. Every read names
//! its stage explicitly (AWS defaults to AWSCURRENT; being explicit is also what emulators need).

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::SecretString;

use crate::config::PasswordPolicy;
use crate::error::RotatorError;

pub struct Metadata {
    pub rotation_enabled: Option<bool>,
    pub versions: HashMap<String, Vec<String>>,
    pub tags: HashMap<String, String>,
}

pub struct SecretStore {
    client: Client,
}

fn sm_err<E, R>(operation: &'static str, secret: &str, e: SdkError<E, R>) -> RotatorError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = caretaker_shared::aws::sdk_failure(&e).retryable;
    RotatorError::SecretsManager {
        operation,
        secret: secret.to_owned(),
        source: Box::new(e),
        retryable,
    }
}

impl SecretStore {
    pub fn new(client: Client) -> Self {
        SecretStore { client }
    }

    pub async fn describe(&self, secret: &str) -> Result<Metadata, RotatorError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| sm_err("DescribeSecret", secret, e))?;
        Ok(Metadata {
            rotation_enabled: out.rotation_enabled,
            versions: out.version_ids_to_stages.unwrap_or_default(),
            tags: out
                .tags
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value?)))
                .collect(),
        })
    }

    /// The value at `stage` (and `version`, if given); `None` when no such version exists.
    pub async fn get(
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
        match res {
            Ok(out) => Ok(out.secret_string),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(sm_err("GetSecretValue", secret, e)),
        }
    }

    pub async fn random_password(
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

    pub async fn put_pending(
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

    pub async fn promote(
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
