//! The library every Caretaker function uses: AWS configuration and cross-account roles,
//! telemetry (JSON logs + EMF metrics), typed environment configuration, one error
//! classification, the run report, notification sinks and the safety guard.

pub mod aws;
pub mod config;
pub mod contract;
pub mod error;
pub mod guard;
pub mod incoming;
pub mod notify;
pub mod once;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod report;
pub mod telemetry;

pub use error::{BadInput, ErrorKind, SharedError};
pub use guard::{Guard, Refusal, Tags, tag_map};
pub use report::{Outcome, ResourceResult, RunReport};
