//! Which accounts a run acts in: the listed ones (`ALLOWED_ACCOUNTS`), plus the `ACTIVE` accounts
//! of the configured OUs (AWS Organizations, child OUs included, cached a bounded time in the
//! memory table), minus `EXCLUDED_ACCOUNTS`. Pure; the Organizations calls are in `org`.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Where accounts come from besides the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgSource {
    /// OU ids (`ou-ab12-cd34ef56`) or a root id (`r-ab12`).
    pub ous: Vec<String>,
    /// How long a listing is used before Organizations is asked again.
    pub cache: TimeDelta,
}

/// An Organizations parent id, as AWS documents them: a root `r-` + 4–32 lower-case letters or
/// digits; an OU `ou-` + the root's 4–32 + `-` + 8–32.
pub fn is_parent_id(s: &str) -> bool {
    let ok = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len())
            && p.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    };
    if let Some(rest) = s.strip_prefix("ou-") {
        return match rest.split_once('-') {
            Some((root, ou)) => ok(root, 4, 32) && ok(ou, 8, 32),
            None => false,
        };
    }
    s.strip_prefix("r-").is_some_and(|r| ok(r, 4, 32))
}

/// A listing of the OUs' active accounts, as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub ous: Vec<String>,
    pub at: DateTime<Utc>,
    pub accounts: BTreeSet<String>,
}

impl Listing {
    /// Usable now: the same OUs, younger than the cache time.
    pub fn fresh(&self, source: &OrgSource, now: DateTime<Utc>) -> bool {
        self.ous == source.ous && now - self.at < source.cache && now >= self.at
    }
}

/// The accounts of this run: listed ∪ found in the OUs, minus the excluded ones. Each says
/// whether it came from an OU only (a missing spoke there is news, not a failure).
pub fn effective(
    listed: &BTreeSet<String>,
    found: &BTreeSet<String>,
    excluded: &BTreeSet<String>,
) -> Vec<(String, bool)> {
    listed
        .union(found)
        .filter(|a| !excluded.contains(*a))
        .map(|a| (a.clone(), !listed.contains(a)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parent_ids_have_their_documented_form() {
        for ok in ["r-ab12", "ou-ab12-cd34ef56", "ou-a1b2c3d4-0123456789abcdef"] {
            assert!(is_parent_id(ok), "{ok}");
        }
        for bad in [
            "",
            "ou-ab12",
            "ou-AB12-cd34ef56",
            "r-a",
            "ou-ab12-cd34",
            "111122223333",
            "ou-ab12-cd34ef56;x",
        ] {
            assert!(!is_parent_id(bad), "{bad}");
        }
    }

    #[test]
    fn listed_and_found_minus_excluded_each_saying_where_it_came_from() {
        let got = effective(
            &set(&["111111111111", "222222222222"]),
            &set(&["222222222222", "333333333333", "444444444444"]),
            &set(&["444444444444"]),
        );
        assert_eq!(
            got,
            vec![
                ("111111111111".to_owned(), false),
                ("222222222222".to_owned(), false),
                ("333333333333".to_owned(), true),
            ]
        );
    }

    #[test]
    fn a_listing_is_used_for_its_ous_and_its_time_only() {
        let now = Utc::now();
        let source = OrgSource {
            ous: vec!["ou-ab12-cd34ef56".into()],
            cache: TimeDelta::minutes(60),
        };
        let l = Listing {
            ous: source.ous.clone(),
            at: now - TimeDelta::minutes(30),
            accounts: BTreeSet::new(),
        };
        assert!(l.fresh(&source, now));
        assert!(!l.fresh(&source, now + TimeDelta::minutes(31)));
        let other = OrgSource {
            ous: vec!["ou-ab12-ffffffff".into()],
            ..source.clone()
        };
        assert!(!l.fresh(&other, now));
    }
}
