//! Runs the restore-test state machine locally against a running `cargo lambda watch`, invoking
//! the real `restore-tester` binary for every Task, in the machine's order (the demo uses it).
//!
//!     cargo run -p caretaker-tests --bin local-driver -- <invoke-port> <input.json>
//!
//! With `--emulate-rds-password` it also does what RDS does when the master password is
//! modified, on the local PostgreSQL of `tools/stack.py` (the emulator cannot).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use caretaker_tests::sfn_driver::{Invoke, TaskError, execute};
use serde_json::Value;

struct Http {
    url: String,
    client: reqwest::Client,
    emulate: bool,
}

#[async_trait]
impl Invoke for Http {
    async fn invoke(&self, payload: Value) -> Result<Value, TaskError> {
        let step = payload["step"].as_str().unwrap_or_default().to_owned();
        let resp = self
            .client
            .post(&self.url)
            .json(&payload)
            .send()
            .await
            .map_err(|e| TaskError {
                error: "Retryable".into(),
                cause: e.to_string(),
            })?;
        let failed = resp.headers().contains_key("x-amz-function-error");
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if failed || body.get("errorType").is_some() {
            let error = body["errorType"].as_str().unwrap_or("Internal").to_owned();
            println!(
                "  {step:<12} error: {}",
                body["errorMessage"].as_str().unwrap_or("")
            );
            return Err(TaskError {
                error,
                cause: body.to_string(),
            });
        }
        let shown = match step.as_str() {
            "start" => format!(
                "restore of {} from {} requested as {}",
                body["sourceInstance"], body["snapshotId"], body["restoreInstance"]
            ),
            "poll" => format!(
                "instance status {}, ready: {}",
                body["status"], body["ready"]
            ),
            "credentials" => "fresh master password set (kept in a temporary secret)".into(),
            "verify" => format!(
                "{} checks, passed: {}",
                body["checks"].as_array().map_or(0, Vec::len),
                body["passed"]
            ),
            "cleanup" => format!(
                "deleted {} and {}",
                body["deletedInstances"], body["deletedSecrets"]
            ),
            "report" => body["summary"].as_str().unwrap_or_default().to_owned(),
            _ => String::new(),
        };
        println!("  {step:<12} {shown}");
        if self.emulate && step == "credentials" {
            emulate_password(&body).await;
        }
        Ok(body)
    }
}

/// RDS applies a modified master password; locally, set it on the stack's PostgreSQL role.
async fn emulate_password(run: &Value) {
    let sdk = caretaker_shared::aws::load().await;
    let pw = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(format!(
            "caretaker/restore-test/{}",
            run["runId"].as_str().unwrap()
        ))
        .send()
        .await
        .expect("temporary secret")
        .secret_string
        .unwrap();
    let user = std::env::var("RESTORE_MASTER_USER").unwrap_or_else(|_| "innovate_admin".into());
    let verifier = postgres_protocol::password::scram_sha_256(pw.as_bytes());
    let status = std::process::Command::new("psql")
        .args([
            "-q",
            "-h",
            &std::env::var("CARETAKER_PG_SOCKET_DIR").unwrap(),
            "-p",
            &std::env::var("CARETAKER_PG_PORT").unwrap(),
            "-U",
            "postgres",
            "-c",
        ])
        .arg(format!("ALTER ROLE {user} PASSWORD '{verifier}'"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = &args[1];
    let input: Value = serde_json::from_str(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let http = Http {
        url: format!("http://127.0.0.1:{port}/2015-03-31/functions/restore-tester/invocations"),
        client: reqwest::Client::new(),
        emulate: args.iter().any(|a| a == "--emulate-rds-password"),
    };
    let definition: Value = serde_json::from_str(restore_tester::STATE_MACHINE).unwrap();
    let name = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let exec = execute(&definition, input, &name, &http, 500).await;
    println!("  path: {}", exec.visited.join(" → "));
    println!(
        "  execution {name}: {}",
        if exec.succeeded {
            "SUCCEEDED".to_owned()
        } else {
            format!("FAILED ({})", exec.error.unwrap_or_default())
        }
    );
    if let Some(ev) = exec.state.pointer("/verdict/evidence") {
        println!("EVIDENCE {ev}");
    }
    std::process::exit(if exec.succeeded { 0 } else { 1 });
}
