//! AWS configuration, loaded once per cold start, and cross-account role assumption for the
//! management → dev/prod hub model. `AWS_ENDPOINT_URL` is honoured by the SDK itself, so the
//! same code runs against a local emulator unchanged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::timeout::TimeoutConfig;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
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
/// Configs are cached per account until their credentials are within `RENEW_BEFORE` of expiring
/// (a warm Lambda lives for hours; assumed credentials for one), so one invocation assumes each
/// role at most once, and a warm process assumes it again about hourly.
pub struct Accounts {
    base: SdkConfig,
    home_account: String,
    role_name: Option<String>,
    session_name: String,
    cache: Mutex<HashMap<String, (SdkConfig, Option<SystemTime>)>>,
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
        if let Some((cfg, expires)) = cache.get(account)
            && still_fresh(*expires, SystemTime::now())
        {
            return Ok(cfg.clone());
        }
        // One explicit AssumeRole: a refusal is an `AwsError` like any other (denied, naming the
        // action and the role), not a credentials-provider failure inside the first real call;
        // and the answer names the account the credentials act in, so no second call checks it.
        // The credentials last an hour, past any Lambda's 15 minutes.
        let out = aws_sdk_sts::Client::new(&self.base)
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&self.session_name)
            .send()
            .await
            .map_err(|e| AwsError::new("STS", "AssumeRole", &e).on(role_arn.clone()))?;
        let acting = out
            .assumed_role_user
            .as_ref()
            .and_then(|u| u.arn.split(':').nth(4).map(str::to_owned));
        let (Some(c), Some(actual)) = (out.credentials, acting) else {
            return Err(SharedError::AssumeRole {
                role_arn,
                source: "AssumeRole returned no credentials or no assumed-role user".into(),
            });
        };
        if actual != account {
            return Err(SharedError::AssumeRole {
                role_arn,
                source: format!("credentials act in account {actual}, not {account}").into(),
            });
        }
        let expires = SystemTime::try_from(c.expiration).ok();
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expires,
            "caretaker-assume-role",
        );
        let cfg = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        cache.insert(account.to_owned(), (cfg.clone(), expires));
        Ok(cfg)
    }
}

/// Assumed credentials are renewed this long before they expire: past any one call's 25 s and
/// well inside a run.
pub const RENEW_BEFORE: Duration = Duration::from_secs(15 * 60);

/// Whether credentials expiring at `expires` (unknown = never) are still good to hand out at `now`.
fn still_fresh(expires: Option<SystemTime>, now: SystemTime) -> bool {
    expires.is_none_or(|e| e.duration_since(now).is_ok_and(|left| left > RENEW_BEFORE))
}

/// Shared handle, cheap to clone into concurrent tasks.
pub type SharedAccounts = Arc<Accounts>;

/// A failed AWS call, as every function reports it: service, operation, the resource it was
/// about (when one), the service's code and message (or the transport error's chain), and whether
/// retrying can help (timeouts, dispatch failures, throttling, server faults). Classified by kind
/// and code, never by message text. A call the caller's policies do not allow is `denied`: its
/// message names the IAM action and the role that lacks it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation}{} failed: {message}", .resource.as_deref().map(|r| format!(" on {r}")).unwrap_or_default())]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub resource: Option<String>,
    pub message: String,
    pub retryable: bool,
    pub denied: bool,
}

/// The codes AWS answers when no policy allows the call (IAM's `AccessDenied`, the JSON services'
/// `AccessDeniedException`, EC2's `UnauthorizedOperation`, SNS's `AuthorizationError`).
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "AuthorizationErrorException",
];

/// "role NAME in account ACCOUNT" for the principal AWS's denial names ("User: arn:aws:sts::
/// ACCOUNT:assumed-role/NAME/SESSION is not authorized to perform: ..."), or the ARN as it stands.
pub fn denied_principal(message: &str) -> Option<String> {
    let arn = message
        .split("User: ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .trim_end_matches([',', '.']);
    let mut parts = arn.splitn(6, ':');
    let (account, resource) = (parts.nth(4)?, parts.next()?);
    Some(match resource.strip_prefix("assumed-role/") {
        Some(rest) => format!(
            "role {} in account {account}",
            rest.split('/').next().unwrap_or(rest)
        ),
        None => arn.to_owned(),
    })
}

/// The message of a denied call: who may not call which IAM action, and what AWS said.
fn denial(service: &str, operation: &str, code: &str, aws_message: &str) -> String {
    let who = denied_principal(aws_message).unwrap_or_else(|| "this function's role".to_owned());
    format!(
        "permission denied: {who} may not call {}:{operation}; grant it in that role's policy \
         ({code}: {})",
        service.to_ascii_lowercase(),
        crate::error::cap(aws_message, 400)
    )
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
        let denied = e.code().is_some_and(|c| DENIED_CODES.contains(&c));
        let message = match e.as_service_error() {
            Some(s) if denied => denial(
                service,
                operation,
                s.code().unwrap_or("AccessDenied"),
                s.message().unwrap_or(""),
            ),
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
            retryable: retryable && !denied,
            denied,
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
            denied: false,
        }
    }
}

impl Classify for AwsError {
    fn kind(&self) -> ErrorKind {
        if self.denied {
            ErrorKind::AccessDenied
        } else if self.retryable {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_credentials_are_renewed_before_they_expire_in_a_warm_process() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Duration::from_secs(3600);
        assert!(still_fresh(Some(now + hour), now), "just assumed");
        assert!(
            still_fresh(Some(now + hour), now + hour / 2),
            "half an hour later"
        );
        assert!(
            !still_fresh(Some(now + hour), now + hour - Duration::from_secs(600)),
            "10 min left"
        );
        assert!(!still_fresh(Some(now + hour), now + 2 * hour), "expired");
        assert!(still_fresh(None, now), "no expiry known");
    }

    #[test]
    fn a_denial_names_the_role_and_the_iam_action() {
        // AWS's wording (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
        let aws = "User: arn:aws:sts::123456789012:assumed-role/caretaker-DevSchedulerFunctionRole-ABC/\
                   caretaker-dev-scheduler is not authorized to perform: dynamodb:GetItem on resource: \
                   arn:aws:dynamodb:us-east-1:123456789012:table/t because no identity-based policy \
                   allows the dynamodb:GetItem action";
        assert_eq!(
            denied_principal(aws).as_deref(),
            Some("role caretaker-DevSchedulerFunctionRole-ABC in account 123456789012")
        );
        let m = denial("dynamodb", "GetItem", "AccessDeniedException", aws);
        assert!(
            m.starts_with(
                "permission denied: role caretaker-DevSchedulerFunctionRole-ABC in account \
                 123456789012 may not call dynamodb:GetItem; grant it"
            ),
            "{m}"
        );
        assert_eq!(
            denied_principal("User: arn:aws:iam::1:user/ops is not authorized").as_deref(),
            Some("arn:aws:iam::1:user/ops")
        );
        assert!(
            denial("ECR", "PutImage", "AccessDenied", "no detail")
                .contains("this function's role may not call ecr:PutImage")
        );
    }
}
