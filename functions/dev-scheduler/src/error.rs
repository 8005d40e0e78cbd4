//! One error enum for dev-scheduler: bad input, or a shared failure (configuration, role,
//! notification set-up). Everything that happens to a resource is in the run report instead.

use caretaker_shared::error::{BadInput, Classify, ErrorKind};
use caretaker_shared::{SharedError, config::ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Input(#[from] BadInput),
    #[error(transparent)]
    Shared(#[from] SharedError),
}

impl From<ConfigError> for SchedulerError {
    fn from(e: ConfigError) -> Self {
        SchedulerError::Shared(e.into())
    }
}

impl Classify for SchedulerError {
    fn kind(&self) -> ErrorKind {
        match self {
            SchedulerError::Input(e) => e.kind(),
            SchedulerError::Shared(e) => e.kind(),
        }
    }
}

caretaker_shared::impl_diagnostic!(SchedulerError);
