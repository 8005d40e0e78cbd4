//! One error enum for budget-guard.

use caretaker_shared::error::{Classify, ErrorKind, diagnostic};
use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("malformed input: {0}")]
    BadInput(String),
    #[error(transparent)]
    Config(#[from] caretaker_shared::config::ConfigError),
    #[error(transparent)]
    Shared(#[from] caretaker_shared::SharedError),
    #[error("{service} {operation} failed: {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        message: String,
        retryable: bool,
    },
}

impl Classify for GuardError {
    fn kind(&self) -> ErrorKind {
        match self {
            GuardError::BadInput(_) | GuardError::Config(_) => ErrorKind::InvalidInput,
            GuardError::Shared(e) => e.kind(),
            GuardError::Aws {
                retryable: true, ..
            } => ErrorKind::Retryable,
            GuardError::Aws { .. } => ErrorKind::Internal,
        }
    }
}

impl From<GuardError> for Diagnostic {
    fn from(err: GuardError) -> Self {
        diagnostic(&err)
    }
}

pub fn aws<E, R>(
    service: &'static str,
    operation: &'static str,
    e: aws_sdk_budgets::error::SdkError<E, R>,
) -> GuardError
where
    E: std::error::Error + aws_sdk_budgets::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let f = caretaker_shared::aws::sdk_failure(&e);
    GuardError::Aws {
        service,
        operation,
        message: f.message,
        retryable: f.retryable,
    }
}
