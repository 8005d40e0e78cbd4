//! Payload → the step to run: `{"step": "start" | "poll" | "credentials" | "verify" |
//! "cleanup" | "report" | "sweep", ...}` as the state machine (or a person) sends it. Every
//! identifier is checked against its documented form here, before anything is named by it.

use caretaker_shared::error::{BadInput, cap_message, quote};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::{Phase, valid_identifier, valid_run_id, valid_snapshot};
use crate::run::{Run, StartInput, State};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Step {
    #[serde(rename_all = "camelCase")]
    Start {
        run_id: String,
        input: Value,
    },
    Poll {
        run: Run,
        phase: Phase,
    },
    Credentials {
        run: Run,
    },
    Verify {
        run: Run,
    },
    #[serde(rename_all = "camelCase")]
    Cleanup {
        run_id: String,
        state: State,
    },
    #[serde(rename_all = "camelCase")]
    Report {
        run_id: String,
        state: State,
    },
    Sweep,
}

const STEPS: &str = "start, poll, credentials, verify, cleanup, report or sweep";

pub fn parse(payload: Value) -> Result<Step, BadInput> {
    let Some(obj) = payload.as_object() else {
        return Err(BadInput::new("not a JSON object: expected {\"step\", ...}"));
    };
    match obj.get("step") {
        None => return Err(BadInput::new("\"step\" is missing")),
        Some(Value::String(s))
            if !STEPS
                .split([',', ' '])
                .any(|name| name == s && name != "or" && !name.is_empty()) =>
        {
            return Err(BadInput(format!(
                "unknown step {}: expected {STEPS}",
                quote(s)
            )));
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(BadInput::new("\"step\" is not a string")),
    }
    let step: Step = serde_json::from_value(payload).map_err(|e| {
        BadInput(format!(
            "step is malformed: {}",
            cap_message(&e.to_string())
        ))
    })?;
    let run_id = match &step {
        Step::Start { run_id, .. } | Step::Cleanup { run_id, .. } | Step::Report { run_id, .. } => {
            Some(run_id.as_str())
        }
        Step::Poll { run, .. } | Step::Credentials { run } | Step::Verify { run } => {
            check_run(run)?;
            None
        }
        Step::Sweep => None,
    };
    if let Some(id) = run_id {
        check_run_id(id)?;
    }
    if let Step::Cleanup { state, .. } | Step::Report { state, .. } = &step
        && let Some(run) = &state.run
    {
        check_run(run)?;
    }
    Ok(step)
}

pub fn check_run_id(id: &str) -> Result<(), BadInput> {
    if valid_run_id(id) {
        Ok(())
    } else {
        Err(BadInput(format!(
            "runId {} is not an execution name (1-80 letters, digits, - and _)",
            quote(id)
        )))
    }
}

fn check_run(run: &Run) -> Result<(), BadInput> {
    check_run_id(&run.run_id)?;
    for (what, id) in [
        ("run.sourceInstance", &run.source_instance),
        ("run.restoreInstance", &run.restore_instance),
    ] {
        if !valid_identifier(id) {
            return Err(BadInput(format!(
                "{what} {} is not a DB instance identifier",
                quote(id)
            )));
        }
    }
    if !valid_snapshot(&run.snapshot_id) {
        return Err(BadInput(format!(
            "run.snapshotId {} is not a snapshot identifier",
            quote(&run.snapshot_id)
        )));
    }
    Ok(())
}

/// The `input` of a start: an object with `sourceInstance` (unknown keys are errors).
pub fn start_input(input: Value) -> Result<StartInput, BadInput> {
    const EXPECTED: &str = "expected {\"sourceInstance\", \"snapshot\"?, \"dryRun\"?}";
    if !input.is_object() {
        return Err(BadInput(format!("\"input\" is not an object; {EXPECTED}")));
    }
    let input: StartInput = serde_json::from_value(input)
        .map_err(|e| BadInput(format!("{}; {EXPECTED}", cap_message(&e.to_string()))))?;
    if !valid_identifier(&input.source_instance) {
        return Err(BadInput(format!(
            "sourceInstance {} is not a DB instance identifier",
            quote(&input.source_instance)
        )));
    }
    if let Some(s) = &input.snapshot
        && !valid_snapshot(s)
    {
        return Err(BadInput(format!(
            "snapshot {} is not a snapshot identifier",
            quote(s)
        )));
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_id_that_climbs_out_of_its_secret_name_is_refused() {
        let err = parse(json!({"step": "cleanup", "runId": "../../*", "state": {}})).unwrap_err();
        assert!(err.to_string().contains("runId"), "{err}");
    }

    #[test]
    fn an_array_is_not_an_input_object() {
        let err = start_input(json!(["innovate-prod-db"])).unwrap_err();
        assert!(err.to_string().contains("not an object"), "{err}");
        assert!(start_input(json!({"sourceInstance": "db", "extra": 1})).is_err());
    }

    #[test]
    fn unknown_and_malformed_steps_are_named() {
        assert!(
            parse(json!({"step": "explode"}))
                .unwrap_err()
                .to_string()
                .contains("unknown step")
        );
        assert!(parse(json!(["start"])).is_err());
        assert!(matches!(parse(json!({"step": "sweep"})), Ok(Step::Sweep)));
    }
}
