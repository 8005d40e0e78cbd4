//! One error enum for the promoter.

use caretaker_shared::aws::AwsError;
use caretaker_shared::error::{BadInput, Classify, ErrorKind};
use caretaker_shared::{SharedError, config::ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum PromoterError {
    #[error(transparent)]
    Input(#[from] BadInput),
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// Configuration, or the notifiers could not be set up (an unusable webhook secret).
    #[error(transparent)]
    Shared(#[from] SharedError),
    #[error("image {image} not found in {repository}")]
    NotFound { repository: String, image: String },
    /// A production tag stands on another image and is never moved.
    #[error("{0}")]
    Conflict(String),
}

impl From<ConfigError> for PromoterError {
    fn from(e: ConfigError) -> Self {
        PromoterError::Shared(e.into())
    }
}

impl Classify for PromoterError {
    fn kind(&self) -> ErrorKind {
        match self {
            PromoterError::Input(e) => e.kind(),
            PromoterError::Aws(e) => e.kind(),
            PromoterError::Shared(e) => e.kind(),
            PromoterError::NotFound { .. } => ErrorKind::InvalidInput,
            PromoterError::Conflict(_) => ErrorKind::PolicyViolation,
        }
    }
}

caretaker_shared::impl_diagnostic!(PromoterError);
