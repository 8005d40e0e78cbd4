//! One error enum for budget-guard: bad input, or a shared failure (configuration, role, an AWS
//! call, notification set-up).

use caretaker_shared::SharedError;
use caretaker_shared::error::{Classify, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(transparent)]
    Shared(#[from] SharedError),
}

impl Classify for GuardError {
    fn kind(&self) -> ErrorKind {
        match self {
            GuardError::Shared(e) => e.kind(),
        }
    }
}

caretaker_shared::impl_diagnostic!(GuardError, shared via GuardError::Shared);
