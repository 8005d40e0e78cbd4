//! Every function as a real Lambda process: its debug binary, spoken to through a minimal Lambda
//! Runtime API (the HTTP protocol the binary uses on AWS), so the runtime's own deserialisation
//! runs. Hostile bodies (not JSON, `null`, an array, 5 000-deep nesting, a 2 MB string) must each
//! end in one of the four documented `errorType`s with a short message; a good event's report and
//! every log line of its invocation carry the same correlation id.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// What the function answered for one invocation: `Ok(response)` or `Err((errorType, message))`.
type Answer = Result<Value, (String, String)>;

#[derive(Default)]
struct Api {
    queue: VecDeque<(String, Vec<u8>)>,
    answers: Vec<(String, Answer)>,
}

/// Serve the Runtime API on loopback: `next` hands out the queued bodies (request ids as
/// given), `response` and `error` record the answer.
fn runtime_api(bodies: Vec<(String, Vec<u8>)>) -> (u16, Arc<Mutex<Api>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let api = Arc::new(Mutex::new(Api {
        queue: bodies.into(),
        answers: Vec::new(),
    }));
    let shared = api.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let api = shared.clone();
            std::thread::spawn(move || serve(stream, &api));
        }
    });
    (port, api)
}

fn serve(stream: TcpStream, api: &Mutex<Api>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if path.ends_with("/invocation/next") {
            let next = loop {
                if let Some(n) = api.lock().unwrap().queue.pop_front() {
                    break n;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Lambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-0-0\r\n\r\n",
                next.1.len(),
                next.0,
                (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 60_000)
            );
            out.write_all(head.as_bytes()).unwrap();
            out.write_all(&next.1).unwrap();
        } else {
            let id = path.split('/').nth(4).unwrap_or("").to_owned();
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = if path.ends_with("/error") {
                Err((
                    v["errorType"].as_str().unwrap_or("").to_owned(),
                    v["errorMessage"].as_str().unwrap_or("").to_owned(),
                ))
            } else {
                Ok(v)
            };
            api.lock().unwrap().answers.push((id, answer));
            out.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
        }
    }
}

/// The function's debug binary, beside this test binary's folder (`<target>/debug`).
fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        bin.exists(),
        "{} is missing: `cargo build --workspace --bins` first (make test does)",
        bin.display()
    );
    bin
}

/// Run `function` over `bodies` as a Lambda process; its answers and its stdout (the logs).
fn invoke(
    function: &str,
    env: &[(&str, &str)],
    bodies: Vec<(String, Vec<u8>)>,
) -> (Vec<(String, Answer)>, String) {
    let n = bodies.len();
    let (port, api) = runtime_api(bodies);
    let mut child = Command::new(binary(function))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.lock().unwrap().answers.len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child.wait().unwrap();
    let answers = std::mem::take(&mut api.lock().unwrap().answers);
    assert_eq!(
        answers.len(),
        n,
        "{function} answered {answers:?}; logs:\n{logs}"
    );
    (answers, logs)
}

fn hostile(long_key: &str) -> Vec<(String, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let long = json!({ long_key: "x".repeat(2 * 1024 * 1024) }).to_string();
    [
        ("not-json", b"this is not json".to_vec()),
        ("null", b"null".to_vec()),
        ("array", b"[\"reconcile\", true]".to_vec()),
        ("deep", deep.into_bytes()),
        ("long", long.into_bytes()),
    ]
    .into_iter()
    .map(|(id, b)| (id.to_owned(), b))
    .collect()
}

const TYPES: [&str; 4] = ["Retryable", "InvalidInput", "PolicyViolation", "Internal"];

fn function_env(function: &str) -> Vec<(&'static str, String)> {
    match function {
        "budget-guard" => vec![("STATE_TABLE", "caretaker-budget-guard".to_owned())],
        _ => Vec::new(),
    }
}

#[test]
fn every_function_answers_hostile_bodies_with_a_documented_error_type_and_a_short_message() {
    stack_var("AWS_ENDPOINT_URL");
    for (function, key) in [
        ("dev-scheduler", "action"),
        ("budget-guard", "action"),
        ("image-promoter", "repository"),
        ("restore-tester", "step"),
        ("secret-rotator", "Step"),
    ] {
        let env = function_env(function);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (answers, logs) = invoke(function, &env, hostile(key));
        for (id, answer) in &answers {
            let (kind, message) = answer
                .as_ref()
                .expect_err(&format!("{function} accepted the {id} body"));
            assert!(
                TYPES.contains(&kind.as_str()),
                "{function} {id}: errorType {kind:?}"
            );
            assert!(
                message.len() < 1024,
                "{function} {id}: {} bytes",
                message.len()
            );
        }
        let longest = logs.lines().map(str::len).max().unwrap_or(0);
        assert!(
            longest < 8 * 1024,
            "{function}: a log line of {longest} bytes"
        );
        // Caretaker's own line for each failed invocation, with its ids.
        let own: Vec<Value> = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == "invocation failed")
            .collect();
        assert_eq!(own.len(), answers.len(), "{function}:\n{logs}");
        for v in &own {
            assert!(
                TYPES.contains(&v["error_type"].as_str().unwrap_or("")),
                "{v}"
            );
            assert_eq!(v["span"]["function"], function, "{v}");
            assert!(v["span"]["request_id"].is_string(), "{v}");
            // No event id in a hostile body: the request id correlates.
            assert_eq!(v["span"]["correlation_id"], v["span"]["request_id"], "{v}");
        }
    }
}

#[test]
fn one_correlation_id_from_event_to_report_and_every_log_line() {
    stack_var("AWS_ENDPOINT_URL");
    // budget-guard's request names an account this function may not act in: refused, reported.
    let event = include_str!("../../events/dev-scheduler/budget-shutdown-request.json");
    let event_id = "3e1b7c2a-5d4f-4a8e-9b6c-7d8e9f0a1b2c";
    let bodies = vec![
        ("req-1".to_owned(), br#"{"action": "status"}"#.to_vec()),
        ("req-2".to_owned(), event.as_bytes().to_vec()),
    ];
    let (answers, logs) = invoke("dev-scheduler", &[], bodies);
    let report = |id: &str| {
        answers
            .iter()
            .find(|(r, _)| r == id)
            .and_then(|(_, a)| a.as_ref().ok())
            .cloned()
            .unwrap_or_else(|| panic!("{id}: {answers:?}"))
    };
    assert_eq!(
        report("req-1")["correlationId"],
        "req-1",
        "the request id, without an event id"
    );
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["name"] == "invocation")
        .collect();
    assert!(lines.len() >= 2, "a line per invocation at least: {logs}");
    for v in &lines {
        let span = &v["span"];
        let first = span["request_id"] == "req-1";
        let expected = if first { "req-1" } else { event_id };
        assert_eq!(span["correlation_id"], expected, "{v}");
        assert_eq!(
            span["cold_start"], first,
            "only the first is a cold start: {v}"
        );
    }
    assert_eq!(
        report("req-2")["correlationId"],
        event_id,
        "the event's own id"
    );
}

/// A function whose cold start fails says why to the Runtime API's `/init/error` (so Lambda,
/// and `cargo lambda invoke` locally, answer with it instead of waiting) and exits.
#[test]
fn a_failed_cold_start_names_what_is_missing_and_exits() {
    stack_var("AWS_ENDPOINT_URL");
    for (function, env, needle) in [
        ("budget-guard", vec![], "STATE_TABLE"),
        (
            "dev-scheduler",
            vec![("AWS_CONCURRENCY", "0")],
            "AWS_CONCURRENCY",
        ),
    ] {
        let (port, api) = runtime_api(Vec::new());
        let mut child = Command::new(binary(function))
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env_remove("STATE_TABLE")
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{function} did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(!status.success(), "{function} exits with a failure");
        let answers = std::mem::take(&mut api.lock().unwrap().answers);
        match answers.as_slice() {
            [(path, Err((kind, message)))] => {
                assert_eq!(path, "error", "posted to /init/error");
                assert_eq!(kind, "InvalidInput", "{function}: {message}");
                assert!(message.contains(needle), "{function}: {message}");
            }
            other => panic!("{function}: {other:?}"),
        }
    }
}
