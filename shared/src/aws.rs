//! AWS configuration, loaded once per cold start, and cross-account role assumption for the
//! management → dev/prod hub model. `AWS_ENDPOINT_URL` is honoured by the SDK itself, so the
//! same code runs against a local emulator unchanged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::Mutex;

use crate::error::SharedError;

/// The SDK configuration from the environment (region, credentials, endpoint overrides), with
/// timeouts well under a Lambda's: a VPC without an endpoint for a service fails in seconds with
/// a named cause instead of hanging until the function is killed.
pub async fn load() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(25))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

/// The account the given configuration acts in (`sts:GetCallerIdentity`).
pub async fn account_id(config: &SdkConfig) -> Result<String, SharedError> {
    let out = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| SharedError::AssumeRole {
            role_arn: "(own identity)".to_owned(),
            source: Box::new(e),
        })?;
    out.account.ok_or_else(|| SharedError::AssumeRole {
        role_arn: "(own identity)".to_owned(),
        source: "GetCallerIdentity returned no account".into(),
    })
}

/// Hands out an `SdkConfig` per target account: the base config for the home account (or when
/// no role name is configured), otherwise one that assumes `arn:aws:iam::<account>:role/<name>`.
/// Configs are cached, and the SDK caches and refreshes the assumed credentials inside them, so
/// one invocation assumes each role at most once.
pub struct Accounts {
    base: SdkConfig,
    home_account: String,
    role_name: Option<String>,
    session_name: String,
    cache: Mutex<HashMap<String, SdkConfig>>,
}

impl Accounts {
    pub fn new(
        base: SdkConfig,
        home_account: String,
        role_name: Option<String>,
        function: &str,
    ) -> Self {
        Accounts {
            base,
            home_account,
            role_name,
            session_name: format!("caretaker-{function}"),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn home_account(&self) -> &str {
        &self.home_account
    }

    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    pub fn role_arn(&self, account: &str) -> Option<String> {
        self.role_name
            .as_ref()
            .map(|name| format!("arn:aws:iam::{account}:role/{name}"))
    }

    /// The config to use for `account`. Assumes the role on first use and checks that the
    /// credentials really act in that account, so a mis-typed role never acts elsewhere.
    pub async fn config_for(&self, account: &str) -> Result<SdkConfig, SharedError> {
        if account == self.home_account {
            return Ok(self.base.clone());
        }
        let Some(role_arn) = self.role_arn(account) else {
            return Err(SharedError::AssumeRole {
                role_arn: format!("(none configured for account {account})"),
                source: "TARGET_ROLE_NAME is not set, so other accounts cannot be reached".into(),
            });
        };
        let mut cache = self.cache.lock().await;
        if let Some(cfg) = cache.get(account) {
            return Ok(cfg.clone());
        }
        let provider = AssumeRoleProvider::builder(role_arn.clone())
            .session_name(self.session_name.clone())
            .configure(&self.base)
            .build()
            .await;
        let cfg = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        let actual = account_id(&cfg)
            .await
            .map_err(|e| SharedError::AssumeRole {
                role_arn: role_arn.clone(),
                source: Box::new(e),
            })?;
        if actual != account {
            return Err(SharedError::AssumeRole {
                role_arn,
                source: format!("credentials act in account {actual}, not {account}").into(),
            });
        }
        cache.insert(account.to_owned(), cfg.clone());
        Ok(cfg)
    }
}

/// Shared handle, cheap to clone into concurrent tasks.
pub type SharedAccounts = Arc<Accounts>;

/// What every function needs from a failed SDK call: the service's code and message (or the
/// transport error's chain), and whether retrying can help (timeouts, dispatch failures,
/// throttling, server faults). Matches on kinds and codes, never on message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkFailure {
    pub message: String,
    pub retryable: bool,
}

pub fn sdk_failure<E, R>(e: &aws_sdk_sts::error::SdkError<E, R>) -> SdkFailure
where
    E: std::error::Error + aws_sdk_sts::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
    let retryable = matches!(
        e,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
    ) || matches!(
        e.code(),
        Some(
            "Throttling"
                | "ThrottlingException"
                | "TooManyRequestsException"
                | "InternalFailure"
                | "InternalServiceError"
                | "InternalErrorException"
                | "ServerException"
                | "LimitExceededException"
        )
    );
    let message = match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("")
        ),
        None => crate::error::chain(e),
    };
    SdkFailure { message, retryable }
}
