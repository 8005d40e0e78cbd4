//! Pure decisions: does this image's scan pass the policy, and which tag does it get. No I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use regex::Regex;
use serde::Serialize;

use crate::policy::{Policy, Severity};

/// One vulnerability, normalised from basic or enhanced findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub id: String,
    pub severity: Severity,
    pub package: Option<String>,
    pub installed: Option<String>,
    pub fixed: Option<String>,
    /// Enhanced scanning knows; basic does not (None).
    pub fix_available: Option<bool>,
    pub first_observed: Option<DateTime<Utc>>,
}

/// The scan as read from ECR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    Complete(Vec<Finding>),
    /// Not complete, failed, unsupported, or unreadable: never promote.
    NotUsable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub promote: bool,
    pub reasons: Vec<String>,
    pub counts: BTreeMap<Severity, u32>,
    /// Findings that count against the policy and exceed it, worst first.
    pub blocking: Vec<Finding>,
    pub waived: Vec<String>,
    pub expired_waivers: Vec<String>,
    pub stale_waivers: Vec<String>,
    pub in_grace: Vec<String>,
}

/// Decide from the full findings. Fails closed: anything but a complete scan blocks.
pub fn decide(
    scan: &Scan,
    policy: &Policy,
    repository: &str,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Decision {
    let mut d = Decision {
        promote: false,
        reasons: Vec::new(),
        counts: BTreeMap::new(),
        blocking: Vec::new(),
        waived: Vec::new(),
        expired_waivers: Vec::new(),
        stale_waivers: Vec::new(),
        in_grace: Vec::new(),
    };
    let findings = match scan {
        Scan::NotUsable(why) => {
            d.reasons.push(format!("scan not usable: {why}"));
            return d;
        }
        Scan::Complete(f) => f,
    };
    let rules = policy.effective(repository);
    let scoped: Vec<_> = policy
        .waivers
        .iter()
        .filter(|w| w.repositories.is_empty() || w.repositories.iter().any(|r| r == repository))
        .collect();
    let mut used = vec![false; scoped.len()];
    let mut counting: Vec<&Finding> = Vec::new();
    for f in findings {
        *d.counts.entry(f.severity).or_default() += 1;
        if let Some(i) = scoped
            .iter()
            .position(|w| w.applies_to(repository, &f.id, f.package.as_deref()))
        {
            used[i] = true;
            if scoped[i].expires >= today {
                d.waived.push(format!(
                    "{} ({}): {}",
                    f.id,
                    f.package.as_deref().unwrap_or("any package"),
                    scoped[i].reason
                ));
                continue;
            }
            d.expired_waivers
                .push(format!("{} expired {}", scoped[i].cve, scoped[i].expires));
        }
        if rules.fix_available_only && f.fix_available == Some(false) {
            continue;
        }
        if let (Some(days), Some(first)) = (rules.grace_days.get(&f.severity), f.first_observed)
            && now - first < chrono::Duration::days(i64::from(*days))
        {
            d.in_grace.push(format!(
                "{} ({}, first seen {})",
                f.id,
                f.severity.as_str(),
                first.date_naive()
            ));
            continue;
        }
        counting.push(f);
    }
    for (i, w) in scoped.iter().enumerate() {
        if !used[i] {
            d.stale_waivers
                .push(format!("{} matches no finding", w.cve));
        }
    }
    d.expired_waivers.sort();
    d.expired_waivers.dedup();
    let mut counted: BTreeMap<Severity, u32> = BTreeMap::new();
    for f in &counting {
        *counted.entry(f.severity).or_default() += 1;
    }
    for (sev, max) in &rules.max {
        let n = counted.get(sev).copied().unwrap_or(0);
        if n > *max {
            d.reasons.push(format!(
                "{n} {} finding(s), policy allows {max}",
                sev.as_str()
            ));
            d.blocking.extend(
                counting
                    .iter()
                    .filter(|f| f.severity == *sev)
                    .map(|f| (*f).clone()),
            );
        }
    }
    d.blocking
        .sort_by(|a, b| a.severity.cmp(&b.severity).then(a.id.cmp(&b.id)));
    d.promote = d.reasons.is_empty();
    if d.promote {
        d.reasons.push("scan passes the policy".into());
    }
    d
}

/// Which source tags are considered, and the production tag each gets.
#[derive(Debug, Clone)]
pub struct TagRule {
    pub source: Regex,
    pub prefix: String,
}

impl TagRule {
    /// Default: a git SHA (7–40 hex, optionally `sha-`) or `v<semver>`.
    pub fn default_source() -> &'static str {
        r"^(sha-)?[0-9a-f]{7,40}$|^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$"
    }

    /// `sha-abc1234` → `prod-abc1234`; `abc1234` → `prod-abc1234`; `v1.2.3` → `prod-v1.2.3`.
    /// A tag that already has the prefix, or does not match the source pattern, gets none.
    pub fn target(&self, tag: &str) -> Option<String> {
        if tag.starts_with(&self.prefix) || !self.source.is_match(tag) {
            return None;
        }
        let core = tag.strip_prefix("sha-").unwrap_or(tag);
        Some(format!("{}{core}", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, sev: Severity, pkg: &str) -> Finding {
        Finding {
            id: id.into(),
            severity: sev,
            package: Some(pkg.into()),
            installed: Some("1.0".into()),
            fixed: Some("1.1".into()),
            fix_available: Some(true),
            first_observed: None,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    fn policy(waivers: &str) -> Policy {
        Policy::parse(&format!(
            r#"{{"version":"t1","defaults":{{"max":{{"CRITICAL":0,"HIGH":0}}}},"waivers":[{waivers}]}}"#
        ))
        .unwrap()
    }

    /// A complete scan with these findings, decided for `backend` now.
    fn decide_now(findings: Vec<Finding>, p: &Policy) -> Decision {
        decide(&Scan::Complete(findings), p, "backend", today(), now())
    }

    #[test]
    fn clean_scan_promotes() {
        let d = decide_now(vec![f("CVE-1", Severity::Medium, "a")], &policy(""));
        assert!(d.promote, "{d:?}");
    }

    #[test]
    fn critical_blocks_and_names_the_finding() {
        let d = decide_now(
            vec![f("CVE-2026-1", Severity::Critical, "openssl")],
            &policy(""),
        );
        assert!(!d.promote);
        assert_eq!(d.blocking[0].id, "CVE-2026-1");
        assert!(d.reasons[0].contains("1 CRITICAL"), "{:?}", d.reasons);
    }

    #[test]
    fn valid_waiver_allows_high() {
        let w = r#"{"cve":"CVE-2026-2","package":"zlib","reason":"not reachable","expires":"2026-12-31"}"#;
        let d = decide_now(vec![f("CVE-2026-2", Severity::High, "zlib")], &policy(w));
        assert!(d.promote, "{d:?}");
        assert_eq!(d.waived.len(), 1);
    }

    #[test]
    fn expired_waiver_no_longer_allows_high_and_is_reported() {
        let w = r#"{"cve":"CVE-2026-2","reason":"not reachable","expires":"2026-11-27"}"#;
        let d = decide_now(vec![f("CVE-2026-2", Severity::High, "zlib")], &policy(w));
        assert!(!d.promote);
        assert_eq!(d.expired_waivers, vec!["CVE-2026-2 expired 2026-11-27"]);
    }

    #[test]
    fn waiver_scoped_to_other_package_or_repository_does_not_apply() {
        let w = r#"{"cve":"CVE-2026-2","package":"other","reason":"r","expires":"2027-01-01"},
                   {"cve":"CVE-2026-2","repositories":["frontend"],"reason":"r","expires":"2027-01-01"}"#;
        let d = decide_now(vec![f("CVE-2026-2", Severity::High, "zlib")], &policy(w));
        assert!(!d.promote);
        assert_eq!(
            d.stale_waivers.len(),
            1,
            "the package-scoped one matched nothing: {d:?}"
        );
    }

    #[test]
    fn stale_waiver_is_reported() {
        let w = r#"{"cve":"CVE-2000-1","reason":"old","expires":"2027-01-01"}"#;
        let d = decide_now(vec![], &policy(w));
        assert!(d.promote);
        assert_eq!(d.stale_waivers, vec!["CVE-2000-1 matches no finding"]);
    }

    #[test]
    fn unusable_scan_fails_closed() {
        let d = decide(
            &Scan::NotUsable("scan FAILED".into()),
            &policy(""),
            "backend",
            today(),
            now(),
        );
        assert!(!d.promote);
        assert!(d.reasons[0].contains("FAILED"));
    }

    #[test]
    fn fix_available_only_and_grace_days() {
        let p = Policy::parse(r#"{"version":"g","defaults":{"max":{"HIGH":0},"fixAvailableOnly":true,"graceDays":{"HIGH":7}}}"#).unwrap();
        let mut unfixable = f("CVE-A", Severity::High, "a");
        unfixable.fix_available = Some(false);
        let mut fresh = f("CVE-B", Severity::High, "b");
        fresh.first_observed = Some("2026-11-25T00:00:00Z".parse().unwrap());
        let d = decide(
            &Scan::Complete(vec![unfixable.clone(), fresh.clone()]),
            &p,
            "r",
            today(),
            now(),
        );
        assert!(d.promote, "{d:?}");
        assert_eq!(d.in_grace.len(), 1);
        let mut old = fresh;
        old.first_observed = Some("2026-11-01T00:00:00Z".parse().unwrap());
        let mut basic = unfixable;
        basic.fix_available = None; // basic scanning: unknown, so it counts
        let d = decide(&Scan::Complete(vec![old, basic]), &p, "r", today(), now());
        assert_eq!(d.blocking.len(), 2);
    }

    #[test]
    fn target_tags() {
        let r = TagRule {
            source: Regex::new(TagRule::default_source()).unwrap(),
            prefix: "prod-".into(),
        };
        assert_eq!(r.target("sha-0123abc").as_deref(), Some("prod-0123abc"));
        assert_eq!(
            r.target("0123abcd0123abcd0123abcd0123abcd0123abcd")
                .as_deref(),
            Some("prod-0123abcd0123abcd0123abcd0123abcd0123abcd")
        );
        assert_eq!(r.target("v1.2.3").as_deref(), Some("prod-v1.2.3"));
        assert_eq!(
            r.target("prod-0123abc"),
            None,
            "own promotions never trigger again"
        );
        assert_eq!(r.target("latest"), None);
    }
}
