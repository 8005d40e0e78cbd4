//! One error enum for dev-scheduler.

use caretaker_shared::error::{Classify, ErrorKind, diagnostic};
use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("malformed input: {0}")]
    BadInput(String),
    #[error(transparent)]
    Config(#[from] caretaker_shared::config::ConfigError),
    #[error(transparent)]
    Shared(#[from] caretaker_shared::SharedError),
}

impl Classify for SchedulerError {
    fn kind(&self) -> ErrorKind {
        match self {
            SchedulerError::BadInput(_) | SchedulerError::Config(_) => ErrorKind::InvalidInput,
            SchedulerError::Shared(e) => e.kind(),
        }
    }
}

impl From<SchedulerError> for Diagnostic {
    fn from(err: SchedulerError) -> Self {
        diagnostic(&err)
    }
}
