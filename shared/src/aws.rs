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

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::error::{Classify, ErrorKind, SharedError};

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
        // Every call here is a small control-plane request already bounded by the timeouts
        // above; the stalled-stream monitor only adds a timer per request body.
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
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

/// A failed AWS call, as every function reports it: service, operation, the resource it was
/// about (when one), the service's code and message (or the transport error's chain), and whether
/// retrying can help (timeouts, dispatch failures, throttling, server faults). Classified by kind
/// and code, never by message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation}{} failed: {message}", .resource.as_deref().map(|r| format!(" on {r}")).unwrap_or_default())]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub resource: Option<String>,
    pub message: String,
    pub retryable: bool,
}

impl AwsError {
    pub fn new<E, R>(service: &'static str, operation: &'static str, e: &SdkError<E, R>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
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
        AwsError {
            service,
            operation,
            resource: None,
            message,
            retryable,
        }
    }

    /// Name the resource the call was about ("on <resource>" in the message).
    pub fn on(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// A failure AWS reported in a successful answer (a rejected batch entry, say).
    pub fn answered(
        service: &'static str,
        operation: &'static str,
        message: impl Into<String>,
        retryable: bool,
    ) -> Self {
        AwsError {
            service,
            operation,
            resource: None,
            message: message.into(),
            retryable,
        }
    }
}

impl Classify for AwsError {
    fn kind(&self) -> ErrorKind {
        if self.retryable {
            ErrorKind::Retryable
        } else {
            ErrorKind::Internal
        }
    }
}

/// A closure for `map_err`: `.map_err(aws_err("rds", "DescribeDBInstances"))?`.
pub fn aws_err<E, R, T>(
    service: &'static str,
    operation: &'static str,
) -> impl FnOnce(SdkError<E, R>) -> T
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    T: From<AwsError>,
{
    move |e| T::from(AwsError::new(service, operation, &e))
}

/// Tolerate one named service error: `Ok(None)` when the call failed with an error `is` accepts
/// (a not-found on a lookup, an already-exists on a create), the error otherwise.
pub fn tolerate<T, E, R>(
    res: Result<T, SdkError<E, R>>,
    is: impl FnOnce(&E) -> bool,
) -> Result<Option<T>, SdkError<E, R>> {
    match res {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.as_service_error().is_some_and(is) => Ok(None),
        Err(e) => Err(e),
    }
}
