//! One error enum for the promoter.

use caretaker_shared::SharedError;
use caretaker_shared::error::{Classify, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum PromoterError {
    /// Configuration, or the notifiers could not be set up (an unusable webhook secret).
    #[error(transparent)]
    Shared(#[from] SharedError),
    #[error("image {image} not found in {repository}")]
    NotFound { repository: String, image: String },
    /// A production tag stands on another image and is never moved.
    #[error("{0}")]
    Conflict(String),
    /// A read failed in a way that may pass: nothing was decided, the trigger may retry.
    #[error("could not decide {0}")]
    Undecided(String),
}

impl Classify for PromoterError {
    fn kind(&self) -> ErrorKind {
        match self {
            PromoterError::Shared(e) => e.kind(),
            PromoterError::NotFound { .. } => ErrorKind::InvalidInput,
            PromoterError::Conflict(_) => ErrorKind::PolicyViolation,
            PromoterError::Undecided(_) => ErrorKind::Retryable,
        }
    }
}

caretaker_shared::impl_diagnostic!(PromoterError, shared via PromoterError::Shared);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_webhook_secret_is_configuration_not_a_policy_verdict() {
        let e = PromoterError::from(SharedError::WebhookSecret {
            secret_id: "slack".into(),
            reason: "the URL must use https".into(),
        });
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            PromoterError::Conflict("x".into()).kind(),
            ErrorKind::PolicyViolation
        );
    }
}
