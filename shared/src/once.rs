//! A failure said once: a periodic run (every 15 minutes) that fails the same way each time tells
//! people when the failure starts, then at most once a day while it lasts, and once when it
//! clears; never every run. Pure: the caller keeps the memory (`Failing` per key) between runs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

/// How often a failure that lasts is said again.
pub const REMIND_EVERY: Duration = Duration::hours(24);
/// At most this many failures are remembered (the first by key); more are said every run.
pub const REMEMBERED_CAP: usize = 200;

/// A failure being remembered: its cause (as `cause_of` gives it), since when, and when it was
/// last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    pub cause: String,
    pub since: DateTime<Utc>,
    pub told: DateTime<Utc>,
}

/// What to do with a failure of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    /// It started (or its cause changed): say it.
    First,
    /// It has lasted a day since it was last said: say it again.
    Again,
    /// Said already, less than a day ago: say nothing.
    Quiet,
}

impl Tell {
    pub fn as_str(self) -> &'static str {
        match self {
            Tell::First => "first",
            Tell::Again => "again",
            Tell::Quiet => "quiet",
        }
    }
}

/// A remembered failure whose resource worked in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    pub key: String,
    pub failing: Failing,
}

/// The decision over one run, and the memory to keep for the next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Said {
    pub tell: BTreeMap<String, Tell>,
    pub cleared: Vec<Cleared>,
    pub memory: BTreeMap<String, Failing>,
}

impl Said {
    /// Whether the memory differs from what was remembered (it needs writing).
    pub fn changed(&self, remembered: &BTreeMap<String, Failing>) -> bool {
        &self.memory != remembered
    }
}

/// The cause of an error message, the same for the same failure: ids that change from one
/// attempt to the next (request ids, UUIDs, long numbers and hex runs) are left out, and the
/// text is capped.
pub fn cause_of(error: &str) -> String {
    let mut out = String::new();
    for word in error.split_whitespace() {
        // A run of 16 or more hex digits and dashes with 4 or more digits (a UUID or request id),
        // or 8 digits or more in one word (a time stamp, an account id, a counter).
        let volatile = word
            .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .any(|run| run.len() >= 16 && run.chars().filter(char::is_ascii_digit).count() >= 4)
            || word.chars().filter(char::is_ascii_digit).count() >= 8;
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(if volatile { "…" } else { word });
    }
    crate::error::cap(&out, 300)
}

/// Decides what this run says of its failures. `current`: key → cause of every failure of this
/// run; `seen`: the keys of everything this run looked at and found working (a remembered
/// failure clears only when its resource was looked at again, so an account that could not be
/// reached does not clear the failures of its resources).
pub fn decide(
    now: DateTime<Utc>,
    current: &BTreeMap<String, String>,
    seen: &BTreeSet<String>,
    remembered: &BTreeMap<String, Failing>,
) -> Said {
    let mut said = Said::default();
    for (key, cause) in current {
        let (tell, failing) = match remembered.get(key) {
            Some(f) if &f.cause == cause && now - f.told < REMIND_EVERY => (Tell::Quiet, f.clone()),
            Some(f) if &f.cause == cause => (
                Tell::Again,
                Failing {
                    told: now,
                    ..f.clone()
                },
            ),
            _ => (
                Tell::First,
                Failing {
                    cause: cause.clone(),
                    since: now,
                    told: now,
                },
            ),
        };
        said.tell.insert(key.clone(), tell);
        if said.memory.len() < REMEMBERED_CAP {
            said.memory.insert(key.clone(), failing);
        }
    }
    for (key, failing) in remembered {
        if current.contains_key(key) {
            continue;
        }
        if seen.contains(key) {
            said.cleared.push(Cleared {
                key: key.clone(),
                failing: failing.clone(),
            });
        } else if said.memory.len() < REMEMBERED_CAP {
            said.memory.insert(key.clone(), failing.clone());
        }
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn one(key: &str, cause: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(key.to_owned(), cause.to_owned())])
    }

    #[test]
    fn a_failure_is_said_when_it_starts_then_daily_then_when_it_clears() {
        let mut memory = BTreeMap::new();
        let mut told = Vec::new();
        // Every 15 minutes for 26 hours the same failure, then it works.
        for run in 0..=104 {
            let now = at(0) + Duration::minutes(15 * run);
            let said = decide(now, &one("account 1", "denied"), &BTreeSet::new(), &memory);
            if said.tell["account 1"] != Tell::Quiet {
                told.push((run, said.tell["account 1"]));
            }
            memory = said.memory;
        }
        assert_eq!(told, vec![(0, Tell::First), (96, Tell::Again)]);
        let seen = BTreeSet::from(["account 1".to_owned()]);
        let said = decide(at(27), &BTreeMap::new(), &seen, &memory);
        assert_eq!(said.cleared.len(), 1);
        assert_eq!(said.cleared[0].failing.since, at(0));
        assert!(said.memory.is_empty());
        // Once cleared, nothing more is said.
        let again = decide(at(28), &BTreeMap::new(), &seen, &said.memory);
        assert!(again.cleared.is_empty() && again.tell.is_empty());
    }

    #[test]
    fn a_new_cause_is_a_new_failure() {
        let first = decide(
            at(0),
            &one("rds-instance db", "timed out"),
            &BTreeSet::new(),
            &BTreeMap::new(),
        );
        let other = decide(
            at(1),
            &one("rds-instance db", "denied"),
            &BTreeSet::new(),
            &first.memory,
        );
        assert_eq!(other.tell["rds-instance db"], Tell::First);
        assert_eq!(other.memory["rds-instance db"].since, at(1));
    }

    #[test]
    fn a_resource_not_looked_at_does_not_clear() {
        let first = decide(
            at(0),
            &one("rds-instance db", "denied"),
            &BTreeSet::new(),
            &BTreeMap::new(),
        );
        // The account could not be reached: the database was not looked at.
        let next = decide(
            at(1),
            &one("account 1", "denied"),
            &BTreeSet::new(),
            &first.memory,
        );
        assert!(next.cleared.is_empty());
        assert!(next.memory.contains_key("rds-instance db"));
        assert!(next.changed(&first.memory));
        // The same world again writes nothing.
        let same = decide(
            at(2),
            &one("account 1", "denied"),
            &BTreeSet::new(),
            &next.memory,
        );
        assert!(!same.changed(&next.memory));
    }

    #[test]
    fn request_ids_do_not_make_a_new_cause() {
        let a =
            cause_of("GetItem failed: throttled (request id 3f2a9c1e-7b44-4d2e-9a1f-0c5e8d7b6a21)");
        let b =
            cause_of("GetItem failed: throttled (request id 9d1b7e55-0a2c-4f3e-8b6d-1e2f3a4b5c6d)");
        assert_eq!(a, b);
        assert_eq!(
            cause_of("not ready at 2026-12-01T07:20:00Z: starting"),
            cause_of("not ready at 2026-12-02T07:20:00Z: starting")
        );
        assert_ne!(
            cause_of("stop failed: denied"),
            cause_of("stop failed: timed out")
        );
        assert!(
            cause_of("role caretaker-DevSchedulerFunctionRole-F511C8FC7E8A")
                .contains("F511C8FC7E8A")
        );
    }
}
