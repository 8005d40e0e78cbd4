//! A run's report stays bounded however many accounts it covers: past `DETAIL_CAP` entries,
//! only what a person needs is listed one by one (changed, failed, drifted, pending, waiting);
//! the rest become one line per account with its counts. The totals always count everything.
//! (Lambda's response is at most 6 MB; at ~300 bytes an entry, 500 entries are ~150 KB.)

use std::collections::BTreeMap;

use caretaker_shared::report::{Outcome, ResourceResult, RunReport};

/// Entries listed one by one before a report is condensed.
pub const DETAIL_CAP: usize = 500;

fn worth_listing(r: &ResourceResult) -> bool {
    match &r.outcome {
        Outcome::Changed { .. } | Outcome::Failed { .. } => true,
        Outcome::Skipped { reason } => reason.starts_with("waiting for"),
        Outcome::Unchanged => {
            r.details.contains_key("drift")
                || r.details.contains_key("pending")
                || r.kind == "savings"
        }
    }
}

pub fn bound(report: &mut RunReport) {
    if report.resources.len() <= DETAIL_CAP {
        return;
    }
    let mut quiet: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut kept = Vec::new();
    for r in std::mem::take(&mut report.resources) {
        if worth_listing(&r) {
            kept.push(r);
            continue;
        }
        let account = r.account.clone().unwrap_or_else(|| "-".into());
        let e = quiet.entry(account).or_default();
        match r.outcome {
            Outcome::Skipped { .. } => e.1 += 1,
            _ => e.0 += 1,
        }
    }
    let omitted_beyond_cap = kept.len().saturating_sub(DETAIL_CAP);
    kept.truncate(DETAIL_CAP);
    for (account, (unchanged, skipped)) in quiet {
        kept.push(account_totals(
            account,
            &[("unchanged", unchanged), ("skipped", skipped)],
        ));
    }
    let mut details = serde_json::Map::new();
    details.insert("cap".into(), DETAIL_CAP.into());
    details.insert(
        "note".into(),
        format!(
            "more than {DETAIL_CAP} entries: unchanged and skipped resources are counted per account (account-totals), not listed; the totals count everything"
        )
        .into(),
    );
    if omitted_beyond_cap > 0 {
        details.insert("omittedChangesOrFailures".into(), omitted_beyond_cap.into());
    }
    kept.push(ResourceResult {
        kind: "report".into(),
        id: "condensed".into(),
        account: None,
        outcome: Outcome::Unchanged,
        details,
    });
    report.resources = kept;
}

/// One `account-totals` entry: an account's counts of what is not listed (not itself counted).
fn account_totals(account: String, counts: &[(&str, usize)]) -> ResourceResult {
    ResourceResult {
        kind: "account-totals".into(),
        id: account.clone(),
        account: Some(account),
        outcome: Outcome::Unchanged,
        details: counts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect(),
    }
}

/// One account's report inside the fan-out: only its failures and drift listed (a person acts on
/// those), the rest in one `account-totals` entry; the totals count everything. About 300 bytes
/// an account, so that hundreds fit in a state machine's 256 KB.
pub fn compact(report: &mut RunReport) {
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut kept = Vec::new();
    for r in std::mem::take(&mut report.resources) {
        let keep = matches!(r.outcome, Outcome::Failed { .. }) || r.details.contains_key("drift");
        if keep {
            kept.push(r);
            continue;
        }
        let e = counts
            .entry(r.account.clone().unwrap_or_else(|| "-".into()))
            .or_default();
        match r.outcome {
            Outcome::Changed { .. } => e.0 += 1,
            Outcome::Skipped { .. } => e.2 += 1,
            _ => e.1 += 1,
        }
    }
    for (account, (changed, unchanged, skipped)) in counts {
        kept.push(account_totals(
            account,
            &[
                ("changed", changed),
                ("unchanged", unchanged),
                ("skipped", skipped),
            ],
        ));
    }
    report.resources = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_report_lists_what_matters_and_counts_the_rest() {
        let mut r = RunReport::new("dev-scheduler", "reconcile", false);
        for a in 0..100 {
            let account = format!("{a:012}");
            for i in 0..10 {
                r.record("rds-instance", &format!("db-{i}"), Outcome::Unchanged)
                    .in_account(&account);
            }
        }
        r.record("rds-instance", "db-x", Outcome::changed("stopped"))
            .in_account("000000000007");
        r.record("rds-instance", "db-y", Outcome::failed("boom"))
            .in_account("000000000008");
        let totals = r.totals.clone();
        bound(&mut r);
        assert_eq!(r.totals, totals, "the totals count everything");
        assert_eq!(r.resources.len(), 2 + 100 + 1);
        let t = r
            .resources
            .iter()
            .find(|x| x.kind == "account-totals" && x.id == "000000000007")
            .unwrap();
        assert_eq!(t.details["unchanged"], 10);
        assert!(r.resources.iter().any(|x| x.id == "db-y"));
        let small = RunReport::new("dev-scheduler", "reconcile", false);
        let mut s = small.clone();
        bound(&mut s);
        assert_eq!(s, small);
    }
}
