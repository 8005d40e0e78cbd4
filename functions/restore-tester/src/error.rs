//! One error enum for the restore tester. Step Functions' Catch matches on the error type.

use caretaker_shared::error::{Classify, ErrorKind, diagnostic};
use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("malformed input: {0}")]
    BadInput(String),
    #[error(transparent)]
    Config(#[from] caretaker_shared::config::ConfigError),
    #[error("{0}")]
    NotFound(String),
    #[error("the run passed its deadline ({0}); cleaning up")]
    DeadlineExceeded(String),
    #[error("{service} {operation} failed: {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        message: String,
        retryable: bool,
    },
    #[error("{what}")]
    Database {
        what: String,
        #[source]
        source: caretaker_shared::pg::DbError,
    },
    #[error("refused: {0}")]
    Refused(String),
}

impl Classify for RestoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            RestoreError::BadInput(_) | RestoreError::Config(_) | RestoreError::NotFound(_) => {
                ErrorKind::InvalidInput
            }
            RestoreError::DeadlineExceeded(_) => ErrorKind::Internal,
            RestoreError::Aws {
                retryable: true, ..
            } => ErrorKind::Retryable,
            RestoreError::Aws { .. } => ErrorKind::Internal,
            RestoreError::Database { source, .. } => source.kind(),
            RestoreError::Refused(_) => ErrorKind::PolicyViolation,
        }
    }
}

impl From<RestoreError> for Diagnostic {
    fn from(err: RestoreError) -> Self {
        diagnostic(&err)
    }
}

/// Map any SDK error: service code and message, retryable for throttles and transport faults.
pub fn aws<E, R>(
    service: &'static str,
    operation: &'static str,
    e: aws_sdk_rds::error::SdkError<E, R>,
) -> RestoreError
where
    E: std::error::Error + aws_sdk_rds::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let f = caretaker_shared::aws::sdk_failure(&e);
    RestoreError::Aws {
        service,
        operation,
        message: f.message,
        retryable: f.retryable,
    }
}
