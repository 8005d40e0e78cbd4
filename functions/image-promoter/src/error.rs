//! One error enum for the promoter.

use caretaker_shared::error::{Classify, ErrorKind, diagnostic};
use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum PromoterError {
    #[error("malformed event: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Config(#[from] caretaker_shared::config::ConfigError),
    #[error("{0}")]
    Policy(String),
    #[error("ECR {operation} on {repository} failed: {message}")]
    Ecr {
        operation: &'static str,
        repository: String,
        message: String,
        retryable: bool,
    },
    #[error("image {image} not found in {repository}")]
    NotFound { repository: String, image: String },
    #[error("{0}")]
    Conflict(String),
}

impl Classify for PromoterError {
    fn kind(&self) -> ErrorKind {
        match self {
            PromoterError::BadEvent(_)
            | PromoterError::Config(_)
            | PromoterError::NotFound { .. } => ErrorKind::InvalidInput,
            PromoterError::Policy(_) | PromoterError::Conflict(_) => ErrorKind::PolicyViolation,
            PromoterError::Ecr {
                retryable: true, ..
            } => ErrorKind::Retryable,
            PromoterError::Ecr { .. } => ErrorKind::Internal,
        }
    }
}

impl From<PromoterError> for Diagnostic {
    fn from(err: PromoterError) -> Self {
        diagnostic(&err)
    }
}
