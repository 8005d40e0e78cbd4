//! One error enum for budget-guard: bad input, or a shared failure (configuration, role, an AWS
//! call, notification set-up).

use caretaker_shared::aws::AwsError;
use caretaker_shared::error::{BadInput, Classify, ErrorKind};
use caretaker_shared::{SharedError, config::ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(transparent)]
    Input(#[from] BadInput),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Shared(#[from] SharedError),
}

impl From<ConfigError> for GuardError {
    fn from(e: ConfigError) -> Self {
        GuardError::Shared(e.into())
    }
}

impl Classify for GuardError {
    fn kind(&self) -> ErrorKind {
        match self {
            GuardError::Input(e) => e.kind(),
            GuardError::Aws(e) => e.kind(),
            GuardError::Shared(e) => e.kind(),
        }
    }
}

caretaker_shared::impl_diagnostic!(GuardError);
