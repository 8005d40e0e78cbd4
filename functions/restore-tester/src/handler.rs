//! Step dispatch: payload → checked step (`event`) → the step (`steps`) → its JSON result, which
//! the state machine stores at the step's ResultPath. The state never carries a password.

use caretaker_shared::incoming::Incoming;
use caretaker_shared::telemetry::Invocation;
use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::error::RestoreError;
use crate::event::{self, Step};
use crate::run::{State, evidence};
use crate::{Deps, FUNCTION, aws, messages, steps};

pub async fn handle(event: LambdaEvent<Incoming>, deps: &Deps) -> Result<Value, RestoreError> {
    // The run id (the execution name) correlates every step of one restore test.
    let run_id = event.payload.value().and_then(|payload| {
        payload
            .get("runId")
            .and_then(|v| v.as_str())
            .or_else(|| payload.pointer("/run/runId").and_then(|v| v.as_str()))
            .filter(|id| crate::domain::valid_run_id(id))
            .map(str::to_owned)
    });
    Invocation::new(FUNCTION, &event.context, run_id)
        .run(async { step(deps, event.payload.into_value()?).await })
        .await
}

/// Run one step with the real clock.
pub async fn step(deps: &Deps, payload: Value) -> Result<Value, RestoreError> {
    Ok(match event::parse(payload)? {
        Step::Start { run_id, input } => {
            to_json(&steps::start(deps, &run_id, input, Utc::now()).await?)
        }
        Step::Poll { run, phase } => to_json(&steps::poll(deps, run, phase, Utc::now()).await?),
        Step::Credentials { run } => to_json(&steps::credentials(deps, run, Utc::now()).await?),
        Step::Verify { run } => to_json(&steps::verify(deps, &run, Utc::now).await?),
        Step::Cleanup { run_id, state } => to_json(&steps::cleanup(deps, &run_id, &state).await?),
        Step::Report { run_id, state } => report(deps, &run_id, &state).await?,
        Step::Sweep => to_json(&steps::sweep(deps, Utc::now()).await?),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Evidence to S3, a summary to the sinks, figures as metrics; returns the verdict. A dry run
/// writes nothing, sends nothing and succeeds with the plan. A failed evidence write still
/// notifies (saying so), then fails the step.
pub async fn report(deps: &Deps, run_id: &str, state: &State) -> Result<Value, RestoreError> {
    let ev = evidence(
        run_id,
        state,
        deps.config.rto_target_minutes,
        deps.config.rpo_target_minutes,
    );
    let key = format!("restore-tests/{}/{}.json", ev.source_instance, run_id);
    if ev.dry_run {
        info!(run_id, summary = %ev.summary, "dry run: nothing restored, nothing written");
        return Ok(json!({ "passed": false, "succeeded": true, "dryRun": true,
                          "summary": ev.summary, "evidence": ev }));
    }
    let written = match &deps.config.evidence_bucket {
        None => Ok(None),
        Some(bucket) => {
            let body = serde_json::to_vec_pretty(&ev).unwrap_or_default();
            aws::put_evidence(deps, bucket, &key, body)
                .await
                .map(|()| Some(format!("s3://{bucket}/{key}")))
        }
    };
    metrics::gauge!("RestoreTestPassed").set(if ev.passed { 1.0 } else { 0.0 });
    if let Some(rto) = ev.rto_minutes {
        metrics::gauge!("RestoreTestRtoMinutes").set(rto);
    }
    info!(run_id, passed = ev.passed, summary = %ev.summary, "restore test finished");
    let at = match &written {
        Ok(at) => at.clone(),
        Err(e) => {
            warn!(run_id, error = %e, "evidence not written");
            Some(format!("NOT written ({e})"))
        }
    };
    if !deps.notifiers.is_empty() {
        deps.notifiers
            .send(&messages::notification(&ev, at.as_deref()))
            .await;
    }
    written?;
    Ok(
        json!({ "passed": ev.passed, "succeeded": ev.passed, "summary": ev.summary,
               "evidenceKey": key, "evidence": ev }),
    )
}
