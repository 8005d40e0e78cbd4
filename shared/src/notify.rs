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

/// Caps that keep every message far under what SNS (256 KB) and Slack (3 000 characters per
/// section) accept, whatever the text from outside holds. A cut is visible: "… (truncated, N more)".
pub const TITLE_MAX: usize = 150;
pub const LABEL_MAX: usize = 100;
pub const VALUE_MAX: usize = 1_000;
pub const FACTS_MAX: usize = 20;
/// Slack's limit for one section's text.
pub const SLACK_SECTION_MAX: usize = 3_000;

pub use crate::error::cap;

/// Slack's escaping for text that is not markup: `&`, `<`, `>` (so `<!channel>` and
/// `<https://evil|click here>` arrive as the characters they are, not as a mention or a link).
pub fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A message for people. Everything in it is plain text, whatever its origin: each sink applies
/// its own escaping and formatting (Slack's markup is added in [`Notification::slack`] around
/// escaped text, never taken from the text itself). Fields are capped as they are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub severity: Severity,
    /// One line, ≤ 150 characters (the SNS subject takes its first 100).
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
            title: cap(&one_line(&title.into()), TITLE_MAX),
            facts: Vec::new(),
            action: None,
        }
    }

    pub fn fact(mut self, label: impl Into<String>, value: impl fmt::Display) -> Self {
        self.facts.push((
            cap(&one_line(&label.into()), LABEL_MAX),
            cap(value.to_string().trim(), VALUE_MAX),
        ));
        self
    }

    pub fn action(mut self, what_to_do: impl Into<String>) -> Self {
        self.action = Some(cap(&what_to_do.into(), VALUE_MAX));
        self
    }

    /// The facts shown, and how many were left out.
    fn shown_facts(&self) -> (&[(String, String)], usize) {
        let n = self.facts.len().min(FACTS_MAX);
        (&self.facts[..n], self.facts.len() - n)
    }

    /// Plain text for e-mail / SNS.
    pub fn text(&self) -> String {
        let mut s = format!("[{}] {}\n", self.severity_label(), self.title);
        let (facts, hidden) = self.shown_facts();
        for (k, v) in facts {
            s.push_str(&format!("- {k}: {v}\n"));
        }
        if hidden > 0 {
            s.push_str(&format!("- … (truncated, {hidden} more)\n"));
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

    /// A Slack-compatible message: `text` for clients that show only that, `blocks` for the
    /// rest. Every piece of text is escaped; the markup (`*bold*`, bullets) is Caretaker's own.
    pub fn slack(&self) -> serde_json::Value {
        let title = format!("{} {}", self.severity.emoji(), slack_escape(&self.title));
        let mut body = format!("{} *{}*", self.severity.emoji(), slack_escape(&self.title));
        let (facts, hidden) = self.shown_facts();
        for (k, v) in facts {
            body.push_str(&format!("\n• *{}:* {}", slack_escape(k), slack_escape(v)));
        }
        if hidden > 0 {
            body.push_str(&format!("\n• … (truncated, {hidden} more)"));
        }
        if let Some(a) = &self.action {
            body.push_str(&format!("\n*What to do:* {}", slack_escape(a)));
        }
        // Escaping can lengthen text; cut what is left at Slack's section limit, on a character.
        let body = if body.chars().count() > SLACK_SECTION_MAX {
            let keep: String = body.chars().take(SLACK_SECTION_MAX - 40).collect();
            format!("{keep}… (truncated)")
        } else {
            body
        };
        serde_json::json!({
            "text": title,
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

/// Titles and labels are one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What became of one message: how many sinks there were and which failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sinks: usize,
    /// `sink: cause` for each sink that did not take the message.
    pub failures: Vec<String>,
}

impl Delivery {
    /// How many sinks took the message.
    pub fn delivered(&self) -> usize {
        self.sinks - self.failures.len()
    }

    /// There were sinks, and none of them took the message (a claim made for it can be given
    /// back, so that the next run tries again without repeating it to anyone).
    pub fn nobody_got_it(&self) -> bool {
        self.sinks > 0 && self.delivered() == 0
    }

    /// The failures, joined, for a report; `None` when every sink took it.
    pub fn error(&self) -> Option<String> {
        (!self.failures.is_empty()).then(|| self.failures.join("; "))
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

    pub async fn send(&self, n: &Notification) -> Delivery {
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
        Delivery {
            sinks: self.sinks.len(),
            failures,
        }
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
    fn slack_text_from_outside_is_escaped_and_capped() {
        let hostile = format!(
            "<!channel> see <https://evil|click here> & {}",
            "x".repeat(1_048_576)
        );
        let n = Notification::new(Severity::Warning, "<!here> budget")
            .fact("Message", &hostile)
            .fact("<b>", "a & b");
        let v = n.slack();
        let all = v.to_string();
        assert!(
            !all.contains("<!channel>") && !all.contains("<!here>"),
            "mention kept"
        );
        assert!(!all.contains("<https://evil"), "link kept");
        assert!(all.contains("&lt;!channel&gt;") && all.contains("a &amp; b"));
        let body = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(body.chars().count() <= SLACK_SECTION_MAX, "{}", body.len());
        assert!(body.contains("(truncated, "), "cut is visible");
        assert!(all.len() < 10_000, "{}", all.len());
        assert!(n.text().len() < 4_000);
    }

    #[test]
    fn many_facts_are_cut_with_a_count() {
        let mut n = Notification::new(Severity::Info, "t");
        for i in 0..30 {
            n = n.fact(format!("f{i}"), i);
        }
        assert!(n.text().contains("… (truncated, 10 more)"));
        assert!(!n.text().contains("f25"));
    }

    #[test]
    fn delivery_counts_the_sinks_that_took_it() {
        let d = Delivery {
            sinks: 2,
            failures: vec!["webhook: could not connect".into()],
        };
        assert_eq!(d.delivered(), 1);
        assert!(!d.nobody_got_it());
        let none = Delivery {
            sinks: 2,
            failures: vec!["a".into(), "b".into()],
        };
        assert!(none.nobody_got_it());
        assert!(!Delivery::default().nobody_got_it());
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
