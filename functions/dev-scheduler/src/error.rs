//! One error enum for dev-scheduler: bad input, or a shared failure (configuration, role,
//! notification set-up). Everything that happens to a resource is in the run report instead.

use caretaker_shared::SharedError;
use caretaker_shared::error::{Classify, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Shared(#[from] SharedError),
}

impl Classify for SchedulerError {
    fn kind(&self) -> ErrorKind {
        match self {
            SchedulerError::Shared(e) => e.kind(),
        }
    }
}

caretaker_shared::impl_diagnostic!(SchedulerError, shared via SchedulerError::Shared);
