//! Telemetry: JSON structured logs through `tracing`, and CloudWatch Embedded Metric Format
//! metrics through `metrics_cloudwatch_embedded`. Every invocation runs inside a span carrying
//! the service, the function and the correlation id taken from the event. Whole events and
//! secret values are never logged: handlers log ids and outcomes only.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Classify;

use tracing::Span;
use tracing_subscriber::EnvFilter;

pub const SERVICE: &str = "caretaker";
pub const METRICS_NAMESPACE: &str = "Caretaker";

static METRICS: OnceLock<Option<&'static metrics_cloudwatch_embedded::Collector>> = OnceLock::new();

/// Initialise JSON logs (level from `RUST_LOG`, default `info`) and EMF metrics, once.
pub fn init(function: &'static str) {
    // Some libraries log request contents at debug level (tokio-postgres logs each statement,
    // which for a password change is a SCRAM verifier): they stay at info whatever RUST_LOG says.
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for quiet in [
        "tokio_postgres=info",
        "aws_smithy_runtime=info",
        "hyper=info",
        "rustls=info",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
    init_metrics(function);
}

/// Metrics only (tests and tools that bring their own subscriber).
pub fn init_metrics(function: &'static str) {
    METRICS.get_or_init(|| {
        metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(METRICS_NAMESPACE)
            .with_dimension("Function", function)
            .init()
            .ok()
    });
}

/// Write the metrics gathered during this invocation to stdout as one EMF document.
pub fn flush_metrics() {
    if let Some(Some(collector)) = METRICS.get()
        && let Err(e) = collector.flush(std::io::stdout())
    {
        tracing::warn!(error = %e, "could not write EMF metrics");
    }
}

/// Who one invocation is, for every log line and report: the function, the correlation id (the
/// event's own id where it has one, else the Lambda request id), the request id, and whether this
/// is the first invocation of the process (a cold start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub function: &'static str,
    pub correlation_id: String,
    pub request_id: String,
    pub cold_start: bool,
}

static WARM: AtomicBool = AtomicBool::new(false);

impl Invocation {
    /// `event_id`: the id the event carries (EventBridge `id`, a rotation token, a state machine
    /// run id), if any.
    pub fn new(
        function: &'static str,
        context: &lambda_runtime::Context,
        event_id: Option<String>,
    ) -> Self {
        let request_id = if context.request_id.is_empty() {
            // Only outside Lambda (tests, tools): still one id per invocation.
            static N: AtomicU64 = AtomicU64::new(0);
            format!(
                "local-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            context.request_id.clone()
        };
        let event_id = event_id
            .map(|id| id.chars().take(128).collect::<String>())
            .filter(|id| !id.trim().is_empty());
        Invocation {
            function,
            correlation_id: event_id.unwrap_or_else(|| request_id.clone()),
            request_id,
            cold_start: !WARM.swap(true, Ordering::Relaxed),
        }
    }

    /// For an event whose correlation id is its EventBridge `id`, if it has one.
    pub fn for_event(
        function: &'static str,
        event: &lambda_runtime::LambdaEvent<crate::incoming::Incoming>,
    ) -> Self {
        let id = event.payload.value().and_then(event_id);
        Invocation::new(function, &event.context, id)
    }

    /// The span every log line of this invocation is written in.
    pub fn span(&self) -> Span {
        tracing::info_span!(
            "invocation",
            service = SERVICE,
            function = self.function,
            correlation_id = %self.correlation_id,
            request_id = %self.request_id,
            cold_start = self.cold_start
        )
    }

    /// Run `work` in this invocation's span: its report gets the correlation id and is counted
    /// as metrics; a failure is logged as one readable line (kind, message, the span's ids); the
    /// metrics are flushed either way.
    pub async fn run<T, E>(&self, work: impl Future<Output = Result<T, E>>) -> Result<T, E>
    where
        T: Reported,
        E: Classify + 'static,
    {
        use tracing::Instrument;
        let span = self.span();
        // On the heap: a whole run's future is large (tens of KiB in a debug build), and the
        // thread that polls it has a fixed stack.
        let mut result = Box::pin(work).instrument(span.clone()).await;
        let _entered = span.enter();
        match &mut result {
            Ok(out) => {
                out.set_correlation_id(&self.correlation_id);
                out.record();
                tracing::info!(
                    summary = out.summary().unwrap_or("-"),
                    "invocation finished"
                );
            }
            Err(e) => {
                tracing::error!(
                    error_type = e.kind().as_str(),
                    error = %crate::error::chain(e),
                    "invocation failed"
                );
            }
        }
        flush_metrics();
        result
    }
}

/// What an invocation returns: a run report, or (restore-tester's steps) a step's JSON.
pub trait Reported {
    fn set_correlation_id(&mut self, _id: &str) {}
    fn record(&self) {}
    fn summary(&self) -> Option<&str> {
        None
    }
}

impl Reported for crate::RunReport {
    fn set_correlation_id(&mut self, id: &str) {
        self.correlation_id = Some(id.to_owned());
    }
    fn record(&self) {
        record_report(self);
    }
    fn summary(&self) -> Option<&str> {
        Some(&self.summary)
    }
}

/// A step's result passes through as it is (the state machine stores it); one that is a run
/// report (restore-tester's sweep) gets the correlation id like any report.
impl Reported for serde_json::Value {
    fn set_correlation_id(&mut self, id: &str) {
        if let Some(report) = self.as_object_mut()
            && report.contains_key("totals")
            && report.contains_key("function")
        {
            report.insert("correlationId".to_owned(), serde_json::Value::from(id));
        }
    }
}

/// The correlation id of an EventBridge event (`id`), if the payload has one.
pub fn event_id(payload: &serde_json::Value) -> Option<String> {
    payload
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// The metrics a run is worth: `ResourcesChanged` and `ResourcesFailed`, only when not zero (a
/// custom metric costs by the hour it is emitted in, so a quiet periodic run must emit none; the
/// run itself is AWS/Lambda's free `Invocations`).
pub fn metrics_worth_emitting(t: &crate::report::Totals) -> Vec<(&'static str, usize)> {
    [
        ("ResourcesChanged", t.changed),
        ("ResourcesFailed", t.failed),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect()
}

/// Count a report's outcomes as metrics, as [`metrics_worth_emitting`] says.
pub fn record_report(report: &crate::RunReport) {
    for (name, value) in metrics_worth_emitting(&report.totals) {
        metrics::counter!(name, "Action" => report.action.clone()).increment(value as u64);
    }
}

/// The cold start's last word when `Deps` cannot be built: the error is logged, named, and sent
/// to the Runtime API's `/init/error` (so Lambda, and `cargo lambda invoke` locally, answer with
/// it instead of waiting on a process that is gone), then returned so `main` exits.
pub async fn deps_or_exit<D, E>(deps: Result<D, E>) -> Result<D, lambda_runtime::Error>
where
    E: crate::error::Classify + std::error::Error + Send + Sync + 'static,
{
    let err = match deps {
        Ok(d) => return Ok(d),
        Err(e) => e,
    };
    let d = crate::error::diagnostic(&err);
    tracing::error!(error_type = %d.error_type, error = %d.error_message, "init failed");
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        let body = serde_json::json!({"errorType": d.error_type, "errorMessage": d.error_message});
        // Lambda gives host:port; cargo lambda watch a URL with a path of its own.
        let base = if api.starts_with("http://") || api.starts_with("https://") {
            api
        } else {
            format!("http://{api}")
        };
        let sent = reqwest::Client::new()
            .post(format!("{base}/2018-06-01/runtime/init/error"))
            .header("Lambda-Runtime-Function-Error-Type", &d.error_type)
            .json(&body)
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not report the init error to the Runtime API");
        }
    }
    Err(Box::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Totals;

    #[test]
    fn a_quiet_run_emits_no_metric_and_a_busy_one_only_changed_and_failed() {
        let quiet = Totals {
            changed: 0,
            unchanged: 40,
            skipped: 3,
            failed: 0,
        };
        assert!(metrics_worth_emitting(&quiet).is_empty());
        let busy = Totals {
            changed: 6,
            failed: 1,
            ..quiet
        };
        assert_eq!(
            metrics_worth_emitting(&busy),
            [("ResourcesChanged", 6), ("ResourcesFailed", 1)]
        );
    }
}
