//! One error enum for the rotator. Messages name the secret, host and user, never a password.

use caretaker_shared::aws::AwsError;
use caretaker_shared::error::{BadInput, Classify, ErrorKind};

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum RotatorError {
    #[error(transparent)]
    Input(#[from] BadInput),
    #[error(transparent)]
    Config(#[from] caretaker_shared::config::ConfigError),
    #[error("secret {secret} is not enabled for rotation")]
    RotationDisabled { secret: String },
    #[error("secret version {token} has no stage for rotation of secret {secret}")]
    UnknownVersion { secret: String, token: String },
    #[error("secret version {token} not set as AWSPENDING for rotation of secret {secret}")]
    NotPending { secret: String, token: String },
    #[error("secret {secret} ({stage}) is malformed: {reason}")]
    BadSecret {
        secret: String,
        stage: String,
        reason: String,
    },
    #[error("secret {secret} has no {stage} version")]
    MissingVersion { secret: String, stage: String },
    #[error("{0}")]
    Mismatch(String),
    #[error("{what}")]
    Database {
        what: String,
        #[source]
        source: DbError,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Shared(#[from] caretaker_shared::SharedError),
    #[error(
        "{database} is {status}: the rotation of {secret} waits for it (Caretaker's hourly resume finishes it once the database is available)"
    )]
    DatabaseAsleep {
        secret: String,
        database: crate::domain::Database,
        status: String,
    },
    #[error("looking up the database of master secret {secret} failed: {reason}")]
    MasterLookup { secret: String, reason: String },
}

impl Classify for RotatorError {
    fn kind(&self) -> ErrorKind {
        match self {
            RotatorError::Input(_)
            | RotatorError::Config(_)
            | RotatorError::RotationDisabled { .. }
            | RotatorError::UnknownVersion { .. }
            | RotatorError::NotPending { .. }
            | RotatorError::BadSecret { .. }
            | RotatorError::MissingVersion { .. }
            | RotatorError::Mismatch(_)
            | RotatorError::MasterLookup { .. } => ErrorKind::InvalidInput,
            RotatorError::Database { source, .. } => source.kind(),
            RotatorError::DatabaseAsleep { .. } => ErrorKind::Retryable,
            RotatorError::Aws(e) => e.kind(),
            RotatorError::Shared(e) => e.kind(),
        }
    }
}

caretaker_shared::impl_diagnostic!(RotatorError);
