//! Step dispatch: `{"step": "start" | "poll" | "credentials" | "verify" | "cleanup" | "report" |
//! "sweep", ...}` → the step → its JSON result, which the state machine stores at the step's
//! ResultPath. The state never carries a password.

use caretaker_shared::notify::{Notification, Severity};
use caretaker_shared::telemetry;
use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use tracing::{Instrument, info};

use crate::Deps;
use crate::error::RestoreError;
use crate::run::{Evidence, Run, State, evidence};
use crate::steps;

const FUNCTION: &str = "restore-tester";

fn field<T: serde::de::DeserializeOwned>(v: &Value, name: &str) -> Result<T, RestoreError> {
    let raw = v
        .get(name)
        .cloned()
        .ok_or_else(|| RestoreError::BadInput(format!("\"{name}\" is missing")))?;
    serde_json::from_value(raw)
        .map_err(|e| RestoreError::BadInput(format!("\"{name}\" is malformed: {e}")))
}

pub async fn handle(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, RestoreError> {
    let payload = event.payload;
    let run_id = payload
        .get("runId")
        .and_then(|v| v.as_str())
        .or_else(|| payload.pointer("/run/runId").and_then(|v| v.as_str()))
        .map(str::to_owned);
    let span = telemetry::invocation_span(FUNCTION, run_id.as_deref());
    let result = step(deps, payload).instrument(span).await;
    telemetry::flush_metrics();
    result
}

/// Run one step with the real clock.
pub async fn step(deps: &Deps, payload: Value) -> Result<Value, RestoreError> {
    let name: String = field(&payload, "step")?;
    match name.as_str() {
        "start" => {
            let run_id: String = field(&payload, "runId")?;
            let input: Value = field(&payload, "input")?;
            Ok(to_json(
                &steps::start(deps, &run_id, input, Utc::now()).await?,
            ))
        }
        "poll" => {
            let run: Run = field(&payload, "run")?;
            let phase: String = field(&payload, "phase")?;
            Ok(to_json(&steps::poll(deps, run, &phase, Utc::now()).await?))
        }
        "credentials" => {
            let run: Run = field(&payload, "run")?;
            Ok(to_json(&steps::credentials(deps, run, Utc::now()).await?))
        }
        "verify" => {
            let run: Run = field(&payload, "run")?;
            Ok(to_json(&steps::verify(deps, &run, Utc::now).await?))
        }
        "cleanup" => {
            let run_id: String = field(&payload, "runId")?;
            let state: State = field(&payload, "state")?;
            Ok(to_json(&steps::cleanup(deps, &run_id, &state).await?))
        }
        "report" => {
            let run_id: String = field(&payload, "runId")?;
            let state: State = field(&payload, "state")?;
            report(deps, &run_id, &state).await
        }
        "sweep" => Ok(to_json(&steps::sweep(deps, Utc::now()).await?)),
        other => Err(RestoreError::BadInput(format!(
            "unknown step {other:?}: expected start, poll, credentials, verify, cleanup, report or sweep"
        ))),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Evidence to S3, a summary to the sinks, figures as metrics; returns the verdict.
pub async fn report(deps: &Deps, run_id: &str, state: &State) -> Result<Value, RestoreError> {
    let ev = evidence(
        run_id,
        state,
        deps.config.rto_target_minutes,
        deps.config.rpo_target_minutes,
    );
    let body = serde_json::to_vec_pretty(&ev).unwrap_or_default();
    let key = format!("restore-tests/{}/{}.json", ev.source_instance, run_id);
    if let Some(bucket) = &deps.config.evidence_bucket {
        deps.s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| RestoreError::Aws {
                service: "s3",
                operation: "PutObject",
                message: caretaker_shared::error::chain(&e),
                retryable: true,
            })?;
    }
    metrics::gauge!("RestoreTestPassed").set(if ev.passed { 1.0 } else { 0.0 });
    if let Some(rto) = ev.rto_minutes {
        metrics::gauge!("RestoreTestRtoMinutes").set(rto);
    }
    info!(run_id, passed = ev.passed, summary = %ev.summary, "restore test finished");
    if !ev.dry_run && !deps.notifiers.is_empty() {
        deps.notifiers
            .send(&notification(
                &ev,
                deps.config.evidence_bucket.as_deref(),
                &key,
            ))
            .await;
    }
    Ok(json!({ "passed": ev.passed, "summary": ev.summary, "evidenceKey": key, "evidence": ev }))
}

pub fn notification(ev: &Evidence, bucket: Option<&str>, key: &str) -> Notification {
    let (sev, verb) = if ev.passed {
        (Severity::Info, "passed")
    } else {
        (Severity::Critical, "FAILED")
    };
    let mut n = Notification::new(
        sev,
        format!("Restore test of {} {verb}", ev.source_instance),
    )
    .fact("Result", &ev.summary)
    .fact(
        "Snapshot",
        format!(
            "{} ({})",
            ev.snapshot_id.as_deref().unwrap_or("?"),
            ev.snapshot_time.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
    );
    if let Some(rto) = ev.rto_minutes {
        n = n.fact(
            "RTO",
            format!("{rto:.1} min (target {} min)", ev.rto_target_minutes),
        );
    }
    for c in &ev.checks {
        n = n.fact(
            format!("{} {}", if c.passed { "✔" } else { "✘" }, c.name),
            &c.detail,
        );
    }
    n = n.fact(
        "Cleaned up",
        if ev.cleaned_up {
            "yes"
        } else {
            "NO (the sweeper will retry)"
        },
    );
    if let Some(b) = bucket {
        n = n.fact("Evidence", format!("s3://{b}/{key}"));
    }
    if ev.passed {
        n
    } else {
        n.action("Read the evidence, fix the cause (backups, checks, permissions), and run the test again by hand.")
    }
}
