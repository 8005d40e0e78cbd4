//! A local driver for the state machines: walks a definition as Step Functions would (Task with
//! Parameters, ResultSelector, Retry and Catch; Map with ItemsPath, ItemSelector and
//! MaxConcurrency over an inline ItemProcessor; Choice; Wait; Pass; Succeed; Fail; the context
//! object's `$$.Execution.Name`, `$$.Execution.StartTime` and `$$.Map.Item.Value`) and invokes the
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
    parameters_in(template, state, &context(execution, None))
}

/// The context object: `Execution.Name`, `Execution.StartTime` and, inside a Map, `Map.Item`.
fn context(execution: &str, item: Option<(usize, &Value)>) -> Value {
    let mut c = serde_json::json!({"Execution": {
        "Name": execution,
        "StartTime": START_TIME.with(|t| t.borrow().clone()),
    }});
    if let Some((index, value)) = item {
        c["Map"] = serde_json::json!({"Item": {"Index": index, "Value": value}});
    }
    c
}

thread_local! {
    /// The execution's start time, as `$$.Execution.StartTime` gives it (set by `execute`).
    static START_TIME: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn parameters_in(template: &Value, state: &Value, ctx: &Value) -> Value {
    match template {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let (Some(key), Some(p)) = (k.strip_suffix(".$"), v.as_str()) {
                    let resolved = match p.strip_prefix("$$") {
                        Some(rest) => path(ctx, &format!("${rest}")).cloned(),
                        None => path(state, p).cloned(),
                    };
                    out.insert(key.to_owned(), resolved.unwrap_or(Value::Null));
                } else {
                    out.insert(k.clone(), parameters_in(v, state, ctx));
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
    execute_at(
        definition,
        input,
        execution,
        &chrono_now(),
        invoker,
        max_transitions,
    )
    .await
}

/// As [`execute`], with `$$.Execution.StartTime` given (a test's fixed hour).
pub async fn execute_at(
    definition: &Value,
    input: Value,
    execution: &str,
    start_time: &str,
    invoker: &dyn Invoke,
    max_transitions: usize,
) -> Execution {
    START_TIME.with(|t| *t.borrow_mut() = start_time.to_owned());
    run(definition, input, execution, invoker, max_transitions).await
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A Map state's items, each through its inline ItemProcessor, at most MaxConcurrency at once;
/// the results in the items' order. A failed item fails the Map (`States.TaskFailed`).
async fn map(
    def: &Value,
    state: &Value,
    execution: &str,
    invoker: &dyn Invoke,
    max_transitions: usize,
) -> Result<Value, TaskError> {
    use futures::StreamExt;
    let items = path(state, def["ItemsPath"].as_str().unwrap_or("$"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let processor = def
        .get("ItemProcessor")
        .or(def.get("Iterator"))
        .cloned()
        .unwrap_or_default();
    let limit = match def["MaxConcurrency"].as_u64() {
        Some(0) | None => items.len().max(1),
        Some(n) => n as usize,
    };
    let inputs: Vec<Value> = items
        .iter()
        .enumerate()
        .map(
            |(i, item)| match def.get("ItemSelector").or(def.get("Parameters")) {
                Some(sel) => parameters_in(sel, state, &context(execution, Some((i, item)))),
                None => item.clone(),
            },
        )
        .collect();
    let done: Vec<Execution> = futures::stream::iter(inputs)
        .map(|input| {
            let processor = &processor;
            async move { Box::pin(run(processor, input, execution, invoker, max_transitions)).await }
        })
        .buffered(limit)
        .collect()
        .await;
    let mut out = Vec::with_capacity(done.len());
    for e in done {
        if !e.succeeded {
            return Err(TaskError {
                error: "States.TaskFailed".into(),
                cause: e.error.unwrap_or_default(),
            });
        }
        out.push(e.state);
    }
    Ok(Value::Array(out))
}

async fn run(
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
            kind @ ("Task" | "Map") => {
                let payload = match def.get("Parameters") {
                    Some(p) => parameters(p, &state, execution),
                    None => state.clone(),
                };
                let mut attempts = 0u64;
                let result = loop {
                    if kind == "Map" {
                        break Box::pin(map(def, &state, execution, invoker, max_transitions))
                            .await;
                    }
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
                        let v = match def.get("ResultSelector") {
                            Some(sel) => parameters(sel, &v, execution),
                            None => v,
                        };
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
        if next.is_none() && def["End"].as_bool() == Some(true) {
            return Execution {
                visited,
                state,
                succeeded: true,
                error: None,
            };
        }
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
