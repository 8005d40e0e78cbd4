//! Notifications behind one interface, with two real sinks: an SNS topic and a Slack-compatible
//! incoming webhook (HTTPS POST of JSON, the URL read from Secrets Manager). Messages are short,
//! human and actionable: a title, a few facts, and one line saying what to do.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::error::SharedError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    fn emoji(self) -> &'static str {
        match self {
            Severity::Info => ":white_check_mark:",
            Severity::Warning => ":warning:",
            Severity::Critical => ":rotating_light:",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub severity: Severity,
    /// One line, ≤ 100 characters (it is also the SNS subject).
    pub title: String,
    /// Facts as label → value, shown in order.
    pub facts: Vec<(String, String)>,
    /// One line: what the reader should do, if anything.
    pub action: Option<String>,
}

impl Notification {
    pub fn new(severity: Severity, title: impl Into<String>) -> Self {
        Notification {
            severity,
            title: title.into(),
            facts: Vec::new(),
            action: None,
        }
    }

    pub fn fact(mut self, label: impl Into<String>, value: impl fmt::Display) -> Self {
        self.facts.push((label.into(), value.to_string()));
        self
    }

    pub fn action(mut self, what_to_do: impl Into<String>) -> Self {
        self.action = Some(what_to_do.into());
        self
    }

    /// Plain text for e-mail / SNS.
    pub fn text(&self) -> String {
        let mut s = format!("[{}] {}\n", self.severity_label(), self.title);
        for (k, v) in &self.facts {
            s.push_str(&format!("- {k}: {v}\n"));
        }
        if let Some(a) = &self.action {
            s.push_str(&format!("What to do: {a}\n"));
        }
        s
    }

    /// SNS subjects must be ASCII, without line breaks, at most 100 characters.
    pub fn subject(&self) -> String {
        let mut s: String = format!("Caretaker: {}", self.title)
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_control() {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        s.truncate(100);
        s
    }

    /// A Slack-compatible message: `text` for clients that show only that, `blocks` for the rest.
    pub fn slack(&self) -> serde_json::Value {
        let mut body = format!("{} *{}*", self.severity.emoji(), self.title);
        for (k, v) in &self.facts {
            body.push_str(&format!("\n• *{k}:* {v}"));
        }
        if let Some(a) = &self.action {
            body.push_str(&format!("\n*What to do:* {a}"));
        }
        serde_json::json!({
            "text": format!("{} {}", self.severity.emoji(), self.title),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": body}}],
        })
    }

    fn severity_label(&self) -> &'static str {
        match self.severity {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Name used in reports and errors (`sns`, `webhook`).
    fn name(&self) -> &'static str;
    async fn send(&self, n: &Notification) -> Result<(), SharedError>;
}

/// Publishes the plain-text form to an SNS topic.
pub struct SnsSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsSink {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsSink {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Notifier for SnsSink {
    fn name(&self) -> &'static str {
        "sns"
    }

    async fn send(&self, n: &Notification) -> Result<(), SharedError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(n.subject())
            .message(n.text())
            .send()
            .await
            .map_err(|e| SharedError::Notify {
                sink: "sns",
                source: Box::new(e),
            })?;
        Ok(())
    }
}

/// POSTs the Slack form to an incoming-webhook URL. The URL is a credential: it is held as a
/// secret and never logged. HTTPS is required except for loopback receivers (local tests).
pub struct WebhookSink {
    http: reqwest::Client,
    url: SecretString,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSink { url: [redacted] }")
    }
}

impl WebhookSink {
    pub fn new(url: SecretString, secret_id: &str) -> Result<Self, SharedError> {
        let bad = |reason: &str| SharedError::WebhookSecret {
            secret_id: secret_id.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(url.expose_secret().trim())
            .map_err(|_| bad("the value is not a URL"))?;
        let loopback = matches!(
            parsed.host_str(),
            Some("127.0.0.1") | Some("localhost") | Some("[::1]")
        );
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err(bad("the URL must use https"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|_| bad("no HTTP client could be built"))?;
        Ok(WebhookSink { http, url })
    }

    /// Read the URL from a Secrets Manager secret: either the bare URL or JSON with a `url` key.
    pub async fn from_secret(
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<Self, SharedError> {
        let out = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| SharedError::Notify {
                sink: "webhook",
                source: Box::new(e),
            })?;
        let raw = out
            .secret_string
            .ok_or_else(|| SharedError::WebhookSecret {
                secret_id: secret_id.to_owned(),
                reason: "it holds no string value".to_owned(),
            })?;
        let url = match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(serde_json::Value::Object(map)) => map
                .get("url")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| SharedError::WebhookSecret {
                    secret_id: secret_id.to_owned(),
                    reason: "its JSON has no \"url\" key".to_owned(),
                })?,
            _ => raw,
        };
        WebhookSink::new(SecretString::from(url), secret_id)
    }
}

#[async_trait]
impl Notifier for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, n: &Notification) -> Result<(), SharedError> {
        let resp = self
            .http
            .post(self.url.expose_secret().trim())
            .json(&n.slack())
            .send()
            .await
            // reqwest puts the URL in its errors: drop it, keep the kind.
            .map_err(|e| SharedError::Notify {
                sink: "webhook",
                source: describe_reqwest(&e).into(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(SharedError::Notify {
                sink: "webhook",
                source: format!("receiver answered HTTP {status}").into(),
            });
        }
        Ok(())
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// Sends to every sink; one failing sink does not stop the others. Returns the failures.
#[derive(Default)]
pub struct Notifiers {
    sinks: Vec<Box<dyn Notifier>>,
}

impl Notifiers {
    pub fn new(sinks: Vec<Box<dyn Notifier>>) -> Self {
        Notifiers { sinks }
    }

    pub fn none() -> Self {
        Notifiers::default()
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Build from the common configuration: SNS if a topic is set, webhook if a secret is set.
    pub async fn from_config(
        common: &crate::config::Common,
        config: &aws_config::SdkConfig,
    ) -> Result<Self, SharedError> {
        let mut sinks: Vec<Box<dyn Notifier>> = Vec::new();
        if let Some(topic) = &common.alert_topic_arn {
            sinks.push(Box::new(SnsSink::new(
                aws_sdk_sns::Client::new(config),
                topic,
            )));
        }
        if let Some(secret) = &common.slack_webhook_secret {
            let sm = aws_sdk_secretsmanager::Client::new(config);
            sinks.push(Box::new(WebhookSink::from_secret(&sm, secret).await?));
        }
        Ok(Notifiers { sinks })
    }

    pub async fn send(&self, n: &Notification) -> Vec<String> {
        let results = futures::future::join_all(
            self.sinks
                .iter()
                .map(|s| async move { (s.name(), s.send(n).await) }),
        )
        .await;
        let mut failures = Vec::new();
        for (name, r) in results {
            if let Err(e) = r {
                let msg = crate::error::chain(&e);
                tracing::warn!(sink = name, error = %msg, "notification not delivered");
                failures.push(format!("{name}: {msg}"));
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        Notification::new(Severity::Warning, "Dev budget at 82% of $500.00")
            .fact("Account", "dev (222222222222)")
            .fact("Forecast", "$640.00")
            .action("Check the cost drivers below; dev shuts down at 100%.")
    }

    #[test]
    fn text_has_title_facts_and_what_to_do() {
        let t = sample().text();
        assert!(t.starts_with("[WARNING] Dev budget at 82% of $500.00\n"));
        assert!(t.contains("- Forecast: $640.00\n"));
        assert!(t.contains("What to do: Check"));
    }

    #[test]
    fn subject_is_ascii_one_line_and_short() {
        let n = Notification::new(Severity::Info, format!("é\n{}", "x".repeat(200)));
        let s = n.subject();
        assert!(s.len() <= 100 && s.is_ascii() && !s.contains('\n'));
    }

    #[test]
    fn slack_form_has_text_and_blocks() {
        let v = sample().slack();
        assert!(v["text"].as_str().unwrap().contains("Dev budget"));
        let body = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(body.contains("*Forecast:* $640.00"));
    }

    #[test]
    fn webhook_refuses_plain_http_to_remote_hosts_without_echoing_the_url() {
        let err = WebhookSink::new(
            SecretString::from("http://hooks.example.com/T000/B000/XXXX"),
            "slack",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("https"));
        assert!(!msg.contains("XXXX"));
        assert!(WebhookSink::new(SecretString::from("http://127.0.0.1:9/x"), "s").is_ok());
        assert!(WebhookSink::new(SecretString::from("https://hooks.example.com/x"), "s").is_ok());
        assert!(
            format!(
                "{:?}",
                WebhookSink::new(SecretString::from("https://h/x"), "s").unwrap()
            )
            .contains("redacted")
        );
    }
}
