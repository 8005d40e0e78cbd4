//! One error classification for every function, and its mapping to the Lambda runtime's
//! `Diagnostic` (whose `error_type` is what alarms and Step Functions `Retry`/`Catch` match on).

use std::error::Error as StdError;
use std::fmt;

use lambda_runtime::Diagnostic;

/// What the caller should do about an error. Stable strings: alarms and state machines match them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ErrorKind {
    /// A throttle, a timeout, a resource in a transitional state: try again later.
    Retryable,
    /// The event or the configuration is wrong: retrying will not help; nothing was changed.
    InvalidInput,
    /// The action was refused on purpose (safety guard, scan policy).
    PolicyViolation,
    /// A bug or an unexpected answer.
    Internal,
    /// The function's role lacks a permission for a call it made: the message names the action
    /// and the role. Retrying will not help until the policy grants it.
    AccessDenied,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "Retryable",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::PolicyViolation => "PolicyViolation",
            ErrorKind::Internal => "Internal",
            ErrorKind::AccessDenied => "AccessDenied",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every crate's error enum.
pub trait Classify: StdError {
    fn kind(&self) -> ErrorKind;
}

/// The error and all its causes, joined: "connect failed: TLS handshake: certificate not trusted".
/// Causes that merely repeat the previous message are dropped.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut last = out.clone();
    let mut source = err.source();
    while let Some(cause) = source {
        let msg = cause.to_string();
        if !msg.is_empty() && !last.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        last = msg;
        source = cause.source();
    }
    out
}

/// Build the runtime's `Diagnostic` from a classified error.
pub fn diagnostic<E: Classify + 'static>(err: &E) -> Diagnostic {
    // Bounded, whatever the causes say: an errorMessage is read by people and stored in logs.
    let mut message = chain(err);
    if message.len() > 1000 {
        let cut = (0..=1000)
            .rev()
            .find(|i| message.is_char_boundary(*i))
            .unwrap_or(0);
        message.truncate(cut);
        message.push_str("… (truncated)");
    }
    Diagnostic {
        error_type: err.kind().as_str().to_owned(),
        error_message: message,
    }
}

/// `impl From<$error> for lambda_runtime::Diagnostic` through [`diagnostic`]: the block every
/// function crate's error enum needs, written once. With `, shared via $variant` (the enum's
/// `SharedError` variant), also `From` bad input, a failed AWS call and a configuration error,
/// so `?` works on each of them.
#[macro_export]
macro_rules! impl_diagnostic {
    ($error:ty) => {
        impl From<$error> for ::lambda_runtime::Diagnostic {
            fn from(err: $error) -> Self {
                $crate::error::diagnostic(&err)
            }
        }
    };
    ($error:ty, shared via $variant:path) => {
        $crate::impl_diagnostic!($error);
        $crate::impl_diagnostic!(@from $error, $variant, $crate::config::ConfigError);
        $crate::impl_diagnostic!(@from $error, $variant, $crate::error::BadInput);
        $crate::impl_diagnostic!(@from $error, $variant, $crate::aws::AwsError);
    };
    (@from $error:ty, $variant:path, $from:ty) => {
        impl From<$from> for $error {
            fn from(e: $from) -> Self {
                $variant($crate::SharedError::from(e))
            }
        }
    };
}

/// At most this many characters of an offending value are quoted back in an error.
pub const QUOTE_MAX: usize = 64;

/// A short, quoted prefix of a value from outside, for an error message: never the whole of an
/// unbounded input. Control characters are escaped by the `Debug` form.
pub fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTE_MAX).collect();
    let rest = chars.count();
    if rest == 0 {
        format!("{head:?}")
    } else {
        format!("{head:?}… ({rest} more characters)")
    }
}

/// `text` cut to `max` characters, saying how many were cut: "… (truncated, N more)".
pub fn cap(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let keep: String = text.chars().take(max).collect();
    format!("{keep}… (truncated, {} more)", count - max)
}

/// A message built from a parser's error (which may quote the input), cut to a bounded length.
pub fn cap_message(message: &str) -> String {
    cap(message, 300)
}

/// The event or a value in it is not what the function accepts. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed input: {0}")]
pub struct BadInput(pub String);

impl BadInput {
    pub fn new(what: impl Into<String>) -> Self {
        BadInput(what.into())
    }
}

impl Classify for BadInput {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Errors raised by the shared crate itself.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error(transparent)]
    Input(#[from] BadInput),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("assuming role {role_arn} failed")]
    AssumeRole {
        role_arn: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("notification sink {sink} failed")]
    Notify {
        sink: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("webhook secret {secret_id} is unusable: {reason}")]
    WebhookSecret { secret_id: String, reason: String },
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
}

impl Classify for SharedError {
    fn kind(&self) -> ErrorKind {
        match self {
            SharedError::Input(_) | SharedError::Config(_) | SharedError::WebhookSecret { .. } => {
                ErrorKind::InvalidInput
            }
            SharedError::AssumeRole { .. } | SharedError::Notify { .. } => ErrorKind::Retryable,
            SharedError::Aws(e) => e.kind(),
        }
    }
}

crate::impl_diagnostic!(SharedError);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    impl Classify for Outer {
        fn kind(&self) -> ErrorKind {
            ErrorKind::Retryable
        }
    }

    #[test]
    fn chain_names_the_root_cause() {
        let err = Outer(std::io::Error::other("certificate not trusted"));
        assert_eq!(chain(&err), "outer: certificate not trusted");
    }

    #[test]
    fn quote_keeps_a_short_prefix_of_a_long_value() {
        let q = quote(&"x".repeat(2_000_000));
        assert!(q.len() < 120, "{q}");
        assert!(q.ends_with("(1999936 more characters)"), "{q}");
        assert_eq!(quote("shutdown"), "\"shutdown\"");
    }

    #[test]
    fn diagnostic_carries_stable_error_type() {
        let d = diagnostic(&Outer(std::io::Error::other("x")));
        assert_eq!(d.error_type, "Retryable");
        assert_eq!(d.error_message, "outer: x");
    }
}
