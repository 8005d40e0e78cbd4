//! Helpers shared by the integration tests: the local stack's environment, per-test accounts,
//! an SNS→SQS capture, and a local HTTP receiver standing in for a Slack webhook.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use caretaker_shared::aws::Accounts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A variable the local stack sets. Panics with instructions when the stack is not running: a
/// test that silently skips could never fail.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the integration tests through the local stack, \
             e.g. `make test` or `tools/stack.py run -- cargo test`"
        )
    })
}

/// The base SDK config pointing at moto (its default account 123456789012).
pub async fn base_config() -> SdkConfig {
    stack_var("AWS_ENDPOINT_URL");
    caretaker_shared::aws::load().await
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh 12-digit account id for one test, unique across tests and runs.
pub fn fresh_account() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    format!(
        "{:012}",
        (nanos * 1000 + n * 7919 + std::process::id() as u64) % 900_000_000_000 + 100_000_000_000
    )
}

/// An SDK config acting in `account` (moto honours the assumed role's account).
pub async fn config_in(account: &str) -> SdkConfig {
    let base = base_config().await;
    let accounts = Accounts::new(
        base,
        "123456789012".into(),
        Some("caretaker-test".into()),
        "test",
    );
    accounts.config_for(account).await.unwrap()
}

/// An SQS queue subscribed to `topic_arn` with raw delivery; returns the queue URL.
pub async fn capture_topic(config: &SdkConfig, topic_arn: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(config);
    let sns = aws_sdk_sns::Client::new(config);
    let name = format!("capture-{}", uuid::Uuid::new_v4().simple());
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    url
}

/// Everything waiting in the queue (bodies).
pub async fn drain(config: &SdkConfig, queue_url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            out.extend(m.body);
            if let Some(h) = m.receipt_handle {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(h)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// A local HTTP receiver: records each request body and answers with `status`.
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<String>>>,
}

pub async fn receiver(status: u16) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/services/T000/B000/secret-token",
        listener.local_addr().unwrap().port()
    );
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(split) = text.find("\r\n\r\n") {
                        let head = text[..split].to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= split + 4 + len {
                            sink.lock()
                                .unwrap()
                                .push(text[split + 4..split + 4 + len].to_owned());
                            let resp = format!(
                                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                            );
                            let _ = sock.write_all(resp.as_bytes()).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    Receiver { url, bodies }
}

/// Everything every test logs, as JSON lines: one global subscriber for the whole test binary
/// (per-thread subscribers miss events from callsites first hit on another thread).
#[derive(Clone, Default)]
pub struct LogBuf(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

pub fn captured_logs() -> LogBuf {
    static LOGS: std::sync::OnceLock<LogBuf> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_writer(move || writer.clone())
            .init();
        buf
    })
    .clone()
}

/// AWS requests moto has served so far (its access log; the moto-api itself excluded); for the
/// benchmarks.
#[allow(dead_code)]
pub fn moto_requests() -> usize {
    let log = std::fs::read_to_string(format!("{}/moto.log", stack_var("CARETAKER_STACK_DIR")))
        .unwrap_or_default();
    log.lines()
        .filter(|l| {
            ["\"POST /", "\"GET /", "\"PUT /", "\"DELETE /"]
                .iter()
                .any(|m| l.contains(m))
        })
        .filter(|l| !l.contains("/moto-api"))
        .count()
}

/// Peak resident memory of this process (VmHWM), in MiB; for the benchmarks.
#[allow(dead_code)]
pub fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// An SNS topic for alerts in `config`'s account, with an SQS queue capturing what is published:
/// (client, topic ARN, queue URL).
pub async fn alert_topic(config: &SdkConfig) -> (aws_sdk_sns::Client, String, String) {
    let sns = aws_sdk_sns::Client::new(config);
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = capture_topic(config, &topic).await;
    (sns, topic, queue)
}

/// A PostgreSQL db.t4g.small RDS instance in `cfg`'s account with the given tags, as the seed
/// makes them.
#[allow(dead_code)]
pub async fn rds_instance(cfg: &SdkConfig, id: &str, tags: &[(&str, &str)]) {
    let mut req = aws_sdk_rds::Client::new(cfg)
        .create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .db_instance_class("db.t4g.small")
        .allocated_storage(20)
        .master_username("m")
        .master_user_password("password123");
    for (k, v) in tags {
        req = req.tags(aws_sdk_rds::types::Tag::builder().key(*k).value(*v).build());
    }
    req.send().await.unwrap();
}

/// An RDS instance's status.
#[allow(dead_code)]
pub async fn rds_status(cfg: &SdkConfig, id: &str) -> String {
    aws_sdk_rds::Client::new(cfg)
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .unwrap()
        .db_instances
        .unwrap()[0]
        .db_instance_status
        .clone()
        .unwrap()
}

/// An EKS cluster in `account` with the given tags.
#[allow(dead_code)]
pub async fn eks_cluster(cfg: &SdkConfig, account: &str, name: &str, tags: &[(&str, &str)]) {
    let mut req = aws_sdk_eks::Client::new(cfg)
        .create_cluster()
        .name(name)
        .role_arn(format!("arn:aws:iam::{account}:role/eks"))
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .build(),
        );
    for (k, v) in tags {
        req = req.tags(*k, *v);
    }
    req.send().await.unwrap();
}

/// An organization made by `cfg`'s account (its management account): the client and the root id.
#[allow(dead_code)]
pub async fn organization(cfg: &SdkConfig) -> (aws_sdk_organizations::Client, String) {
    let org = aws_sdk_organizations::Client::new(cfg);
    org.create_organization().send().await.unwrap();
    let root = org.list_roots().send().await.unwrap().roots.unwrap()[0]
        .id
        .clone()
        .unwrap();
    (org, root)
}

/// An OU under `parent`; its id.
#[allow(dead_code)]
pub async fn organizational_unit(
    org: &aws_sdk_organizations::Client,
    parent: &str,
    name: &str,
) -> String {
    org.create_organizational_unit()
        .parent_id(parent)
        .name(name)
        .send()
        .await
        .unwrap()
        .organizational_unit
        .unwrap()
        .id
        .unwrap()
}

/// An EKS managed node group of t3.small nodes (min, max, desired) with the given tags.
#[allow(dead_code)]
pub async fn t3_small_nodegroup(
    cfg: &SdkConfig,
    account: &str,
    cluster: &str,
    name: &str,
    (min, max, desired): (i32, i32, i32),
    tags: &[(&str, &str)],
) {
    let mut req = aws_sdk_eks::Client::new(cfg)
        .create_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .node_role(format!("arn:aws:iam::{account}:role/node"))
        .subnets("subnet-1")
        .instance_types("t3.small")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(min)
                .max_size(max)
                .desired_size(desired)
                .build(),
        );
    for (k, v) in tags {
        req = req.tags(*k, *v);
    }
    req.send().await.unwrap();
}

/// budget-guard's once-only ledger: a DynamoDB table keyed by the string `pk`.
#[allow(dead_code)]
pub async fn ledger_table(config: &SdkConfig, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map(|_| ())
        .or_else(|e| match e.as_service_error() {
            // A second fixture in the same account shares the table.
            Some(se) if se.is_resource_in_use_exception() => Ok(()),
            _ => Err(Box::new(e)),
        })
        .unwrap();
}

/// An SDK interceptor: counts requests (attempts) by operation, and sends `fail` (an operation
/// name) to a closed port, as a network fault that outlives the SDK's retries would.
#[allow(dead_code)]
#[derive(Debug, Clone, Default)]
pub struct Spy {
    pub calls: Arc<Mutex<Vec<String>>>,
    pub fail: Option<&'static str>,
}

impl Intercept for Spy {
    fn name(&self) -> &'static str {
        "CountAndFail"
    }
    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The operation's metadata is in the bag by now (not yet before serialisation).
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        self.calls.lock().unwrap().push(op.clone());
        if self.fail == Some(op.as_str()) {
            ctx.request_mut().set_uri("http://127.0.0.1:9/")?;
        }
        Ok(())
    }
}

/// A proxy in front of moto for one test: holds each request for `delay`, then forwards it, and
/// records per query-protocol action (`Action=…` of the body) the most requests in flight at
/// once. HTTP/1.1 with `Content-Length` bodies, as the SDK and moto speak it.
#[allow(dead_code)]
pub struct InFlight {
    pub url: String,
    pub max: Arc<Mutex<HashMap<String, usize>>>,
    /// While set, `sts:AssumeRole` into a role of this account is answered AccessDenied, as AWS
    /// answers for a role that does not exist (an account without its spoke).
    pub deny_assume_into: Arc<Mutex<Option<String>>>,
    /// Requests by action (`Action=` of a query call, the `X-Amz-Target` operation of a JSON
    /// call, `METHOD /first-path-segment` of a REST call).
    pub counts: Arc<Mutex<HashMap<String, usize>>>,
}

#[allow(dead_code)]
impl InFlight {
    pub async fn start(delay: std::time::Duration) -> InFlight {
        let upstream = stack_var("AWS_ENDPOINT_URL")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let max: Arc<Mutex<HashMap<String, usize>>> = Default::default();
        let now: Arc<Mutex<HashMap<String, usize>>> = Default::default();
        let deny: Arc<Mutex<Option<String>>> = Default::default();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Default::default();
        let (m, d, c) = (max.clone(), deny.clone(), counts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, max, now, deny, counts) = (
                    upstream.clone(),
                    m.clone(),
                    now.clone(),
                    d.clone(),
                    c.clone(),
                );
                tokio::spawn(async move {
                    let _ = relay(client, &upstream, delay, max, now, deny, counts).await;
                });
            }
        });
        InFlight {
            url,
            max,
            deny_assume_into: deny,
            counts,
        }
    }

    /// The requests counted so far, by action, and the count reset.
    pub fn take_counts(&self) -> HashMap<String, usize> {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }

    pub fn max_of(&self, action: &str) -> usize {
        self.max.lock().unwrap().get(action).copied().unwrap_or(0)
    }
}

/// One HTTP message (head + `Content-Length` body) from `r`, or `None` at end of stream.
async fn message<R: tokio::io::AsyncRead + Unpin>(
    r: &mut tokio::io::BufReader<R>,
) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncBufReadExt;
    let mut head = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut head).await?;
        if n == 0 {
            return Ok(None);
        }
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    head.extend(body);
    Ok(Some(head))
}

async fn relay(
    client: tokio::net::TcpStream,
    upstream: &str,
    delay: std::time::Duration,
    max: Arc<Mutex<HashMap<String, usize>>>,
    now: Arc<Mutex<HashMap<String, usize>>>,
    deny: Arc<Mutex<Option<String>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
) -> std::io::Result<()> {
    use tokio::io::BufReader;
    let (cr, mut cw) = client.into_split();
    let mut cr = BufReader::new(cr);
    let (ur, mut uw) = tokio::net::TcpStream::connect(upstream).await?.into_split();
    let mut ur = BufReader::new(ur);
    while let Some(req) = message(&mut cr).await? {
        let text = String::from_utf8_lossy(&req);
        let action = text
            .split(['&', '\n'])
            .find_map(|p| p.trim().strip_prefix("Action="))
            .unwrap_or("")
            .to_owned();
        let named = if !action.is_empty() {
            action.clone()
        } else if let Some(t) = text.lines().find_map(|l| {
            l.strip_prefix("x-amz-target:")
                .or_else(|| l.strip_prefix("X-Amz-Target:"))
        }) {
            t.trim().rsplit('.').next().unwrap_or("").to_owned()
        } else {
            let mut first = text.lines().next().unwrap_or("").split(' ');
            let method = first.next().unwrap_or("");
            let path = first.next().unwrap_or("").split('?').next().unwrap_or("");
            format!(
                "{method} {}",
                path.split('/').take(2).collect::<Vec<_>>().join("/")
            )
        };
        *counts.lock().unwrap().entry(named).or_default() += 1;
        {
            let mut now = now.lock().unwrap();
            let n = now.entry(action.clone()).or_default();
            *n += 1;
            let mut max = max.lock().unwrap();
            let m = max.entry(action.clone()).or_default();
            *m = (*m).max(*n);
        }
        tokio::time::sleep(delay).await;
        let denied = deny.lock().unwrap().clone().filter(|account| {
            action == "AssumeRole" && text.contains(&format!("iam%3A%3A{account}%3Arole"))
        });
        if let Some(account) = denied {
            let body = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/caretaker/dev-scheduler is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{account}:role/caretaker-spoke</Message></Error><RequestId>denied</RequestId></ErrorResponse>"
            );
            let resp = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            *now.lock().unwrap().entry(action).or_default() -= 1;
            cw.write_all(resp.as_bytes()).await?;
            continue;
        }
        uw.write_all(&req).await?;
        let resp = message(&mut ur).await?;
        *now.lock().unwrap().entry(action).or_default() -= 1;
        match resp {
            Some(resp) => cw.write_all(&resp).await?,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// The error is bad input (errorType `InvalidInput`) and its message names `needle`.
#[allow(dead_code)]
pub fn assert_invalid_input<E>(err: E, needle: &str)
where
    E: std::fmt::Display + Into<lambda_runtime::Diagnostic>,
{
    let text = err.to_string();
    assert!(text.contains(needle), "{text}");
    assert_eq!(err.into().error_type, "InvalidInput", "{text}");
}
