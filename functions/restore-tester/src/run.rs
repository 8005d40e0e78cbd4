//! The state a restore test carries between steps. It never holds a password: the throwaway
//! instance's credentials live in a temporary secret, referenced here by ARN.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::CheckResult;

pub const TAG_MARK: &str = "caretaker:restore-test";
pub const TAG_RUN: &str = "caretaker:run-id";
pub const TAG_EXPIRES: &str = "caretaker:expires-at";
pub const SECRET_PREFIX: &str = "caretaker/restore-test/";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartInput {
    pub source_instance: String,
    #[serde(default)]
    pub snapshot: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub run_id: String,
    pub source_instance: String,
    pub snapshot_id: String,
    pub snapshot_time: DateTime<Utc>,
    pub restore_instance: String,
    pub instance_class: String,
    pub started_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub restore_requested_at: Option<DateTime<Utc>>,
    pub available_at: Option<DateTime<Utc>>,
    pub credentials_requested_at: Option<DateTime<Utc>>,
    pub credentials_at: Option<DateTime<Utc>>,
    pub secret_arn: Option<String>,
    pub status: String,
    /// For the state machine's Choice: the awaited state was reached.
    pub ready: bool,
    pub polls: u32,
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub host: String,
    pub connected_at: DateTime<Utc>,
    pub first_query_at: DateTime<Utc>,
    pub verified_at: DateTime<Utc>,
    pub checks: Vec<CheckResult>,
    pub passed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleanup {
    pub deleted_instances: Vec<String>,
    pub deleted_secrets: Vec<String>,
    pub already_gone: Vec<String>,
}

/// The whole state as the Cleanup and Report steps see it; any part may be missing after a failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(default)]
    pub source_instance: Option<String>,
    #[serde(default)]
    pub run: Option<Run>,
    #[serde(default)]
    pub verification: Option<Verification>,
    #[serde(default)]
    pub cleanup: Option<Cleanup>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    #[serde(default)]
    pub cleanup_error: Option<serde_json::Value>,
}

/// The evidence an auditor reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub run_id: String,
    pub source_instance: String,
    pub snapshot_id: Option<String>,
    pub snapshot_time: Option<DateTime<Utc>>,
    pub instance_class: Option<String>,
    pub restore_instance: Option<String>,
    pub timings: Timings,
    pub checks: Vec<CheckResult>,
    pub rto_minutes: Option<f64>,
    pub rto_target_minutes: i64,
    pub rpo_target_minutes: i64,
    pub error: Option<String>,
    pub cleaned_up: bool,
    pub cleanup: Option<Cleanup>,
    pub cleanup_error: Option<String>,
    pub passed: bool,
    pub dry_run: bool,
    pub summary: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub restore_requested: Option<DateTime<Utc>>,
    pub available: Option<DateTime<Utc>>,
    pub credentials_ready: Option<DateTime<Utc>>,
    pub first_query: Option<DateTime<Utc>>,
    pub verified: Option<DateTime<Utc>>,
}

fn error_text(v: &serde_json::Value) -> String {
    match (
        v.get("Error").and_then(|e| e.as_str()),
        v.get("Cause").and_then(|c| c.as_str()),
    ) {
        (Some(e), Some(c)) => {
            // Lambda errors arrive as a JSON cause with errorMessage.
            let msg = serde_json::from_str::<serde_json::Value>(c)
                .ok()
                .and_then(|j| {
                    j.get("errorMessage")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| c.to_owned());
            format!("{e}: {msg}")
        }
        (Some(e), None) => e.to_owned(),
        _ => v.to_string(),
    }
}

/// Pure: the evidence and the verdict from whatever the state holds.
pub fn evidence(run_id: &str, state: &State, rto_target: i64, rpo_target: i64) -> Evidence {
    let run = state.run.as_ref();
    let v = state.verification.as_ref();
    let timings = Timings {
        restore_requested: run.and_then(|r| r.restore_requested_at),
        available: run.and_then(|r| r.available_at),
        credentials_ready: run.and_then(|r| r.credentials_at),
        first_query: v.map(|v| v.first_query_at),
        verified: v.map(|v| v.verified_at),
    };
    let rto_minutes = match (timings.restore_requested, timings.verified) {
        (Some(a), Some(b)) => {
            Some(((b - a).num_milliseconds() as f64 / 60_000.0 * 10.0).round() / 10.0)
        }
        _ => None,
    };
    let dry_run = run.is_some_and(|r| r.dry_run);
    let error = state.error.as_ref().map(error_text);
    let cleanup_error = state.cleanup_error.as_ref().map(error_text);
    let cleaned_up = cleanup_error.is_none();
    let checks = v.map(|v| v.checks.clone()).unwrap_or_default();
    let checks_pass = v.is_some_and(|v| v.passed);
    let rto_ok = rto_minutes.is_some_and(|m| m <= rto_target as f64);
    let passed = !dry_run && error.is_none() && cleaned_up && checks_pass && rto_ok;
    let source = run
        .map(|r| r.source_instance.clone())
        .or(state.source_instance.clone())
        .unwrap_or_else(|| "?".into());
    let summary = if dry_run {
        format!(
            "dry run: would restore {} from {}",
            source,
            run.map(|r| r.snapshot_id.as_str()).unwrap_or("?")
        )
    } else if let Some(e) = &error {
        format!("FAILED: {e}")
    } else if !checks_pass {
        let failed: Vec<_> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} ({})", c.name, c.detail))
            .collect();
        format!("FAILED checks: {}", failed.join("; "))
    } else if !rto_ok {
        format!(
            "FAILED: RTO {:.1} min exceeds the {rto_target} min target",
            rto_minutes.unwrap_or(0.0)
        )
    } else if !cleaned_up {
        "FAILED: verified, but cleanup failed (the sweeper will retry)".into()
    } else {
        format!(
            "PASSED: {} checks, RTO {:.1} min (target {rto_target})",
            checks.len(),
            rto_minutes.unwrap_or(0.0)
        )
    };
    Evidence {
        run_id: run_id.to_owned(),
        source_instance: source,
        snapshot_id: run.map(|r| r.snapshot_id.clone()),
        snapshot_time: run.map(|r| r.snapshot_time),
        instance_class: run.map(|r| r.instance_class.clone()),
        restore_instance: run.map(|r| r.restore_instance.clone()),
        timings,
        checks,
        rto_minutes,
        rto_target_minutes: rto_target,
        rpo_target_minutes: rpo_target,
        error,
        cleaned_up,
        cleanup: state.cleanup.clone(),
        cleanup_error,
        passed,
        dry_run,
        summary,
    }
}
