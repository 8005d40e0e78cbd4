//! A local driver for the state machine: walks `statemachine.asl.json` as Step Functions would
//! (Task with Parameters, Retry and Catch; Choice; Wait; Pass; Succeed; Fail) and invokes the
//! function for each Task, in-process in tests or through the Lambda runtime API in the demo.
//! Waits are not slept: the steps poll real state, and the poll limits bound the loops.

use async_trait::async_trait;
use serde_json::{Map, Value};

/// A failed Task: its error type (the Lambda `errorType`) and cause.
#[derive(Debug, Clone)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

#[async_trait]
pub trait Invoke: Send + Sync {
    async fn invoke(&self, payload: Value) -> Result<Value, TaskError>;
}

#[derive(Debug, Clone)]
pub struct Execution {
    pub visited: Vec<String>,
    pub state: Value,
    pub succeeded: bool,
    pub error: Option<String>,
}

fn path<'a>(v: &'a Value, p: &str) -> Option<&'a Value> {
    let rest = p.strip_prefix('$')?;
    let mut cur = v;
    for part in rest.split('.').filter(|s| !s.is_empty()) {
        cur = cur.get(part)?;
    }
    Some(cur)
}

fn set_path(state: &mut Value, p: &str, value: Value) {
    if p == "$" {
        *state = value;
        return;
    }
    let parts: Vec<&str> = p.trim_start_matches("$.").split('.').collect();
    let mut cur = state;
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("object");
        if i == parts.len() - 1 {
            obj.insert((*part).to_owned(), value);
            return;
        }
        cur = obj
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn parameters(template: &Value, state: &Value, execution: &str) -> Value {
    match template {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let (Some(key), Some(p)) = (k.strip_suffix(".$"), v.as_str()) {
                    let resolved = if p == "$$.Execution.Name" {
                        Value::String(execution.to_owned())
                    } else {
                        path(state, p).cloned().unwrap_or(Value::Null)
                    };
                    out.insert(key.to_owned(), resolved);
                } else {
                    out.insert(k.clone(), parameters(v, state, execution));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn matches(list: &Value, error: &str) -> bool {
    list.as_array()
        .is_some_and(|a| a.iter().any(|e| e == "States.ALL" || e == error))
}

fn choose(state_def: &Value, state: &Value) -> Option<String> {
    for rule in state_def["Choices"].as_array().into_iter().flatten() {
        let var = rule["Variable"].as_str().and_then(|p| path(state, p));
        let hit = if let Some(b) = rule.get("BooleanEquals") {
            var == Some(b)
        } else if let Some(n) = rule
            .get("NumericGreaterThanEquals")
            .and_then(|n| n.as_f64())
        {
            var.and_then(|v| v.as_f64()).is_some_and(|v| v >= n)
        } else if let Some(s) = rule.get("StringEquals") {
            var == Some(s)
        } else {
            false
        };
        if hit {
            return rule["Next"].as_str().map(str::to_owned);
        }
    }
    state_def["Default"].as_str().map(str::to_owned)
}

/// Run the machine from `StartAt` with `input`; at most `max_transitions` state entries.
pub async fn execute(
    definition: &Value,
    input: Value,
    execution: &str,
    invoker: &dyn Invoke,
    max_transitions: usize,
) -> Execution {
    let mut state = input;
    let mut visited = Vec::new();
    let mut current = definition["StartAt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for _ in 0..max_transitions {
        visited.push(current.clone());
        let def = &definition["States"][&current];
        let next = match def["Type"].as_str().unwrap_or_default() {
            "Task" => {
                let payload = parameters(&def["Parameters"], &state, execution);
                let mut attempts = 0u64;
                let result = loop {
                    match invoker.invoke(payload.clone()).await {
                        Ok(v) => break Ok(v),
                        Err(e) => {
                            let retry = def["Retry"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .find(|r| matches(&r["ErrorEquals"], &e.error));
                            let max = retry.and_then(|r| r["MaxAttempts"].as_u64()).unwrap_or(0);
                            if attempts < max {
                                attempts += 1;
                                continue;
                            }
                            break Err(e);
                        }
                    }
                };
                match result {
                    Ok(v) => {
                        set_path(&mut state, def["ResultPath"].as_str().unwrap_or("$"), v);
                        def["Next"].as_str().map(str::to_owned)
                    }
                    Err(e) => {
                        let catch = def["Catch"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|c| matches(&c["ErrorEquals"], &e.error));
                        match catch {
                            Some(c) => {
                                let err = serde_json::json!({"Error": e.error, "Cause": e.cause});
                                set_path(&mut state, c["ResultPath"].as_str().unwrap_or("$"), err);
                                c["Next"].as_str().map(str::to_owned)
                            }
                            None => {
                                return Execution {
                                    visited,
                                    state,
                                    succeeded: false,
                                    error: Some(format!("{}: {}", e.error, e.cause)),
                                };
                            }
                        }
                    }
                }
            }
            "Pass" => {
                if let Some(r) = def.get("Result") {
                    set_path(
                        &mut state,
                        def["ResultPath"].as_str().unwrap_or("$"),
                        r.clone(),
                    );
                }
                def["Next"].as_str().map(str::to_owned)
            }
            "Wait" => def["Next"].as_str().map(str::to_owned),
            "Choice" => choose(def, &state),
            "Succeed" => {
                return Execution {
                    visited,
                    state,
                    succeeded: true,
                    error: None,
                };
            }
            "Fail" => {
                let error = def["Error"].as_str().unwrap_or("Failed").to_owned();
                return Execution {
                    visited,
                    state,
                    succeeded: false,
                    error: Some(error),
                };
            }
            other => {
                return Execution {
                    visited,
                    state,
                    succeeded: false,
                    error: Some(format!("unsupported state type {other:?}")),
                };
            }
        };
        match next {
            Some(n) => current = n,
            None => {
                return Execution {
                    visited,
                    state,
                    succeeded: false,
                    error: Some(format!("state {current} has no Next")),
                };
            }
        }
    }
    Execution {
        visited,
        state,
        succeeded: false,
        error: Some("too many transitions".into()),
    }
}

/// Invokes restore-tester in-process (tests).
pub struct InProcess<'a>(pub &'a restore_tester::Deps);

#[async_trait]
impl Invoke for InProcess<'_> {
    async fn invoke(&self, payload: Value) -> Result<Value, TaskError> {
        restore_tester::handler::step(self.0, payload)
            .await
            .map_err(|e| TaskError {
                error: caretaker_shared::error::Classify::kind(&e)
                    .as_str()
                    .to_owned(),
                cause: serde_json::json!({"errorMessage": caretaker_shared::error::chain(&e)})
                    .to_string(),
            })
    }
}
