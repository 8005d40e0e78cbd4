//! One error enum for the restore tester. Step Functions' Retry and Catch match on the error
//! type (`Retryable`, `InvalidInput`, `PolicyViolation`, `Internal`).

use caretaker_shared::SharedError;
use caretaker_shared::error::{Classify, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Shared(#[from] SharedError),
    /// Something the input names does not exist (a source instance, a snapshot).
    #[error("{0}")]
    NotFound(String),
    #[error("the run passed its deadline ({0}); cleaning up")]
    DeadlineExceeded(String),
    #[error("{what}")]
    Database {
        what: String,
        #[source]
        source: caretaker_shared::pg::DbError,
    },
    #[error("refused: {0}")]
    Refused(String),
    /// Cleanup tried everything; these could not be deleted.
    #[error("cleanup left {0}")]
    Leftovers(String),
}

impl Classify for RestoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            RestoreError::Shared(e) => e.kind(),
            RestoreError::NotFound(_) => ErrorKind::InvalidInput,
            RestoreError::DeadlineExceeded(_) => ErrorKind::Internal,
            RestoreError::Database { source, .. } => source.kind(),
            RestoreError::Refused(_) => ErrorKind::PolicyViolation,
            RestoreError::Leftovers(_) => ErrorKind::Retryable,
        }
    }
}

caretaker_shared::impl_diagnostic!(RestoreError, shared via RestoreError::Shared);
