//! The run report every function returns as JSON: each resource looked at with its outcome,
//! totals, and whether it was a dry run. It is also what the demo prints and tests assert on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A mutating call was made (or, in a dry run, would have been: see `RunReport::dry_run`).
    Changed { action: String },
    /// Already in the desired state; no mutating call.
    Unchanged,
    /// Deliberately left alone.
    Skipped { reason: String },
    /// Tried and failed; the others were still processed.
    Failed { error: String },
}

impl Outcome {
    pub fn changed(action: impl Into<String>) -> Self {
        Outcome::Changed {
            action: action.into(),
        }
    }
    pub fn skipped(reason: impl Into<String>) -> Self {
        Outcome::Skipped {
            reason: reason.into(),
        }
    }
    pub fn failed(error: impl Into<String>) -> Self {
        Outcome::Failed {
            error: error.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceResult {
    /// Kind of resource: `rds-instance`, `secret`, `ecr-image`, ...
    pub kind: String,
    /// Its id or ARN.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Extra facts worth showing (sizes before/after, counts). Never secrets.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub changed: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub function: String,
    pub action: String,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub correlation_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub resources: Vec<ResourceResult>,
    pub totals: Totals,
    /// One human sentence: what was done and why.
    pub summary: String,
}

impl RunReport {
    pub fn new(function: &str, action: &str, dry_run: bool) -> Self {
        let now = Utc::now();
        RunReport {
            function: function.to_owned(),
            action: action.to_owned(),
            dry_run,
            correlation_id: None,
            started_at: now,
            finished_at: now,
            resources: Vec::new(),
            totals: Totals::default(),
            summary: String::new(),
        }
    }

    pub fn with_correlation_id(mut self, id: Option<String>) -> Self {
        self.correlation_id = id;
        self
    }

    pub fn record(&mut self, kind: &str, id: &str, outcome: Outcome) -> &mut ResourceResult {
        self.push(ResourceResult {
            kind: kind.to_owned(),
            id: id.to_owned(),
            account: None,
            outcome,
            details: serde_json::Map::new(),
        })
    }

    pub fn push(&mut self, result: ResourceResult) -> &mut ResourceResult {
        match &result.outcome {
            Outcome::Changed { .. } => self.totals.changed += 1,
            Outcome::Unchanged => self.totals.unchanged += 1,
            Outcome::Skipped { .. } => self.totals.skipped += 1,
            Outcome::Failed { .. } => self.totals.failed += 1,
        }
        self.resources.push(result);
        let last = self.resources.len() - 1;
        &mut self.resources[last]
    }

    pub fn has_failures(&self) -> bool {
        self.totals.failed > 0
    }

    /// Close the report: stamp the end time and write the summary if none was set.
    pub fn finish(mut self) -> Self {
        self.finished_at = Utc::now();
        if self.summary.is_empty() {
            self.summary = self.default_summary();
        }
        self
    }

    fn default_summary(&self) -> String {
        let t = &self.totals;
        let verb = if self.dry_run {
            "would change"
        } else {
            "changed"
        };
        let mut s = format!(
            "{} {}: {verb} {}, unchanged {}, skipped {}, failed {}",
            self.function, self.action, t.changed, t.unchanged, t.skipped, t.failed
        );
        if self.dry_run {
            s.push_str(" (dry run: no mutating call made)");
        }
        s
    }
}

impl ResourceResult {
    pub fn detail(&mut self, key: &str, value: impl Serialize) -> &mut Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.details.insert(key.to_owned(), v);
        }
        self
    }

    pub fn in_account(&mut self, account: &str) -> &mut Self {
        self.account = Some(account.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_outcomes_and_json_is_flat() {
        let mut r = RunReport::new("dev-scheduler", "shutdown", false);
        r.record("rds-instance", "app-dev", Outcome::changed("stop"))
            .detail("state", "available");
        r.record(
            "rds-instance",
            "app-prod",
            Outcome::skipped("tagged env=prod"),
        );
        r.record("eks-nodegroup", "addons", Outcome::failed("throttled"));
        r.record("eks-nodegroup", "other", Outcome::Unchanged);
        let r = r.finish();
        assert_eq!(
            r.totals,
            Totals {
                changed: 1,
                unchanged: 1,
                skipped: 1,
                failed: 1
            }
        );
        assert!(r.has_failures());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["resources"][0]["outcome"], "changed");
        assert_eq!(v["resources"][0]["action"], "stop");
        assert_eq!(v["resources"][0]["details"]["state"], "available");
        assert_eq!(v["resources"][1]["reason"], "tagged env=prod");
        assert_eq!(v["dryRun"], false);
        assert!(r.summary.contains("changed 1"));
    }

    #[test]
    fn dry_run_summary_says_nothing_was_changed() {
        let mut r = RunReport::new("x", "shutdown", true);
        r.record("rds-instance", "a", Outcome::changed("stop"));
        let r = r.finish();
        assert!(r.summary.contains("would change 1"));
        assert!(r.summary.contains("no mutating call"));
        let back: RunReport = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
