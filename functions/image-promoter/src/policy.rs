//! The scan policy: a versioned JSON document with defaults, per-repository overrides and
//! waivers. A policy that does not parse, or that contradicts itself, is an error: the caller
//! fails closed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub const BUNDLED: &str = include_str!("../policy.default.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
    Undefined,
    Untriaged,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Informational => "INFORMATIONAL",
            Severity::Undefined => "UNDEFINED",
            Severity::Untriaged => "UNTRIAGED",
        }
    }

    pub fn parse(s: &str) -> Severity {
        match s.to_ascii_uppercase().as_str() {
            "CRITICAL" => Severity::Critical,
            "HIGH" => Severity::High,
            "MEDIUM" => Severity::Medium,
            "LOW" => Severity::Low,
            "INFORMATIONAL" => Severity::Informational,
            "UNTRIAGED" => Severity::Untriaged,
            _ => Severity::Undefined,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rules {
    /// Maximum findings allowed per severity; severities not listed are unlimited.
    #[serde(default)]
    pub max: BTreeMap<Severity, u32>,
    /// Count only findings with a fix available (enhanced scanning knows; basic does not, so
    /// basic findings always count).
    #[serde(default)]
    pub fix_available_only: Option<bool>,
    /// Days a finding of this severity may exist, from first observation, before it counts.
    #[serde(default)]
    pub grace_days: BTreeMap<Severity, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Waiver {
    pub cve: String,
    #[serde(default)]
    pub package: Option<String>,
    /// Repositories it applies to; empty = all.
    #[serde(default)]
    pub repositories: Vec<String>,
    pub reason: String,
    pub expires: NaiveDate,
}

impl Waiver {
    pub fn applies_to(&self, repository: &str, cve: &str, package: Option<&str>) -> bool {
        self.cve.eq_ignore_ascii_case(cve)
            && (self.repositories.is_empty() || self.repositories.iter().any(|r| r == repository))
            && match (&self.package, package) {
                (None, _) => true,
                (Some(w), Some(p)) => w == p,
                (Some(_), None) => false,
            }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    pub version: String,
    pub defaults: Rules,
    #[serde(default)]
    pub repositories: BTreeMap<String, Rules>,
    #[serde(default)]
    pub waivers: Vec<Waiver>,
}

/// The rules in force for one repository: its overrides on top of the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub max: BTreeMap<Severity, u32>,
    pub fix_available_only: bool,
    pub grace_days: BTreeMap<Severity, u32>,
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, String> {
        let p: Policy =
            serde_json::from_str(text).map_err(|e| format!("policy does not parse: {e}"))?;
        if p.version.trim().is_empty() {
            return Err("policy has an empty version".into());
        }
        for w in &p.waivers {
            if w.reason.trim().is_empty() {
                return Err(format!("waiver for {} has no reason", w.cve));
            }
            if !w.cve.to_ascii_uppercase().starts_with("CVE-")
                && !w.cve.to_ascii_uppercase().starts_with("GHSA-")
            {
                return Err(format!("waiver id {:?} is not a CVE or GHSA id", w.cve));
            }
        }
        Ok(p)
    }

    pub fn bundled() -> Policy {
        // The bundled default is tested below; parsing it cannot fail at run time.
        Policy::parse(BUNDLED).unwrap_or_else(|_| Policy {
            version: "fallback-deny-all".into(),
            defaults: Rules {
                max: BTreeMap::from([(Severity::Critical, 0), (Severity::High, 0)]),
                fix_available_only: Some(false),
                grace_days: BTreeMap::new(),
            },
            repositories: BTreeMap::new(),
            waivers: Vec::new(),
        })
    }

    pub fn effective(&self, repository: &str) -> Effective {
        let d = &self.defaults;
        let mut e = Effective {
            max: d.max.clone(),
            fix_available_only: d.fix_available_only.unwrap_or(false),
            grace_days: d.grace_days.clone(),
        };
        if let Some(o) = self.repositories.get(repository) {
            e.max.extend(o.max.clone());
            if let Some(f) = o.fix_available_only {
                e.fix_available_only = f;
            }
            e.grace_days.extend(o.grace_days.clone());
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_policy_parses_and_blocks_critical_and_high() {
        let p = Policy::parse(BUNDLED).unwrap();
        let e = p.effective("backend");
        assert_eq!(e.max.get(&Severity::Critical), Some(&0));
        assert_eq!(e.max.get(&Severity::High), Some(&0));
    }

    #[test]
    fn repository_overrides_layer_on_defaults() {
        let p = Policy::parse(
            r#"{"version":"7","defaults":{"max":{"CRITICAL":0,"HIGH":0}},
            "repositories":{"frontend":{"max":{"HIGH":3},"fixAvailableOnly":true}}}"#,
        )
        .unwrap();
        let e = p.effective("frontend");
        assert_eq!(e.max[&Severity::High], 3);
        assert_eq!(e.max[&Severity::Critical], 0);
        assert!(e.fix_available_only);
        assert!(!p.effective("backend").fix_available_only);
    }

    #[test]
    fn waivers_need_a_reason_and_an_expiry() {
        assert!(Policy::parse(r#"{"version":"1","defaults":{},"waivers":[{"cve":"CVE-1-2","reason":"","expires":"2027-01-01"}]}"#).is_err());
        let err = Policy::parse(
            r#"{"version":"1","defaults":{},"waivers":[{"cve":"CVE-1-2","reason":"x"}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("expires"), "{err}");
        assert!(
            Policy::parse("{not json")
                .unwrap_err()
                .contains("does not parse")
        );
        assert!(
            Policy::parse(r#"{"version":"1","defaults":{"maxx":{}}}"#).is_err(),
            "typos are errors"
        );
    }
}
