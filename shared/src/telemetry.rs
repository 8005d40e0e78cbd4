//! Telemetry: JSON structured logs through `tracing`, and CloudWatch Embedded Metric Format
//! metrics through `metrics_cloudwatch_embedded`. Every invocation runs inside a span carrying
//! the service, the function and the correlation id taken from the event. Whole events and
//! secret values are never logged: handlers log ids and outcomes only.

use std::sync::OnceLock;

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

/// The span every invocation runs in.
pub fn invocation_span(function: &str, correlation_id: Option<&str>) -> Span {
    tracing::info_span!(
        "invocation",
        service = SERVICE,
        function = function,
        correlation_id = correlation_id.unwrap_or("-")
    )
}

/// The correlation id of an EventBridge event (`id`), if the payload has one.
pub fn event_id(payload: &serde_json::Value) -> Option<String> {
    payload
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// One invocation that ends in a run report: runs `work` in the invocation span, counts the
/// report's outcomes when there is one, and flushes the metrics either way.
pub async fn report_invocation<E>(
    function: &str,
    correlation_id: Option<&str>,
    work: impl Future<Output = Result<crate::RunReport, E>>,
) -> Result<crate::RunReport, E> {
    use tracing::Instrument;
    // On the heap: a whole run's future is large (tens of KiB in a debug build), and the thread
    // that polls it has a fixed stack.
    let result = Box::pin(work)
        .instrument(invocation_span(function, correlation_id))
        .await;
    if let Ok(report) = &result {
        record_report(report);
    }
    flush_metrics();
    result
}

/// Count a report's outcomes as metrics (`ResourcesChanged`, `ResourcesFailed`, ...).
pub fn record_report(report: &crate::RunReport) {
    let t = &report.totals;
    let action = report.action.clone();
    for (name, value) in [
        ("ResourcesChanged", t.changed),
        ("ResourcesUnchanged", t.unchanged),
        ("ResourcesSkipped", t.skipped),
        ("ResourcesFailed", t.failed),
    ] {
        metrics::counter!(name, "Action" => action.clone()).increment(value as u64);
    }
}
