//! Pure decisions: what state a resource should be in now (schedule, overrides, holidays,
//! action), and what that means for a database or a node group in the state it is in.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::schedule::Schedule;

pub const TAG_SCHEDULE: &str = "caretaker/schedule";
pub const TAG_KEEP_UP_UNTIL: &str = "caretaker/keep-up-until";
pub const TAG_SIZE_PREFIX: &str = "caretaker/nodegroup-size/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Shutdown,
    Startup,
    Reconcile,
    Status,
}

impl Action {
    pub fn parse(s: &str) -> Result<Action, String> {
        match s {
            "shutdown" => Ok(Action::Shutdown),
            "startup" => Ok(Action::Startup),
            "reconcile" => Ok(Action::Reconcile),
            "status" => Ok(Action::Status),
            other => Err(format!(
                "unknown action {other:?}: expected shutdown, startup, reconcile or status"
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Shutdown => "shutdown",
            Action::Startup => "startup",
            Action::Reconcile => "reconcile",
            Action::Status => "status",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    Up(String),
    Down(String),
    /// Not opted in, or excluded: left alone.
    Leave(String),
}

/// Schedules by name, the account-wide default, and the holiday list.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub named: BTreeMap<String, Schedule>,
    pub default: Option<Schedule>,
    pub holidays: Vec<NaiveDate>,
}

/// What the resource should be now. A malformed tag is an error for that resource only.
pub fn desired(
    tags: &BTreeMap<String, String>,
    policy: &Policy,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Desired, String> {
    let schedule = match tags.get(TAG_SCHEDULE).map(|s| s.trim()) {
        Some("none" | "exclude" | "off") => {
            return Ok(Desired::Leave("excluded by tag caretaker/schedule".into()));
        }
        Some(name) if policy.named.contains_key(name) => policy.named[name].clone(),
        Some(inline) => inline
            .parse::<Schedule>()
            .map_err(|e| format!("tag {TAG_SCHEDULE}: {e}"))?,
        None => match &policy.default {
            Some(s) => s.clone(),
            None => {
                return Ok(Desired::Leave(
                    "not opted in (no caretaker/schedule tag)".into(),
                ));
            }
        },
    };
    let keep_up = match tags.get(TAG_KEEP_UP_UNTIL) {
        None => None,
        Some(v) => Some(parse_until(v).ok_or_else(|| {
            format!("tag {TAG_KEEP_UP_UNTIL}: {v:?} is not an RFC 3339 time or a date")
        })?),
    };
    let today = now.with_timezone(&schedule.tz).date_naive();
    let holiday = policy.holidays.contains(&today);
    Ok(match action {
        Action::Shutdown => match keep_up {
            Some(u) if now < u => Desired::Up(format!("kept up until {u} by tag")),
            _ => Desired::Down("shutdown requested".into()),
        },
        Action::Startup if holiday => {
            Desired::Leave(format!("{today} is a holiday: startup skipped"))
        }
        Action::Startup => Desired::Up("startup requested".into()),
        Action::Reconcile | Action::Status => match keep_up {
            Some(u) if now < u => Desired::Up(format!("kept up until {u} by tag")),
            _ if schedule.is_up(now, &policy.holidays) => {
                Desired::Up(format!("within {}", schedule.text))
            }
            _ => Desired::Down(format!("outside {}", schedule.text)),
        },
    })
}

fn parse_until(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// The database step for a desired state and an actual status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbStep {
    Stop,
    Start,
    Nothing,
    /// Cannot act now or ever; the reason says which.
    Skip(String),
}

pub fn db_step(up: bool, status: &str, ineligible: Option<&str>) -> DbStep {
    if let Some(why) = ineligible {
        return DbStep::Skip(why.to_owned());
    }
    match (up, status) {
        (true, "available") | (false, "stopped") => DbStep::Nothing,
        (true, "stopped") => DbStep::Start,
        (false, "available") => DbStep::Stop,
        (true, "starting") | (false, "stopping") => DbStep::Nothing,
        (_, other) => DbStep::Skip(format!("in state {other}: the next reconcile retries")),
    }
}

/// Node group sizes: `min,max,desired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

impl Sizes {
    pub fn encode(&self) -> String {
        format!("{},{},{}", self.min, self.max, self.desired)
    }
    pub fn decode(s: &str) -> Option<Sizes> {
        let v: Vec<i32> = s
            .split(',')
            .map(|x| x.trim().parse().ok())
            .collect::<Option<_>>()?;
        match v.as_slice() {
            [min, max, desired] if *max >= 1 && min <= desired && desired <= max => Some(Sizes {
                min: *min,
                max: *max,
                desired: *desired,
            }),
            _ => None,
        }
    }
    pub fn is_down(&self) -> bool {
        self.desired == 0 && self.min == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NgStep {
    /// Remember `remember` (unless already remembered) and scale to zero.
    ScaleDown {
        remember: Option<Sizes>,
        max: i32,
    },
    ScaleUp(Sizes),
    Nothing,
    Skip(String),
}

/// Never forgets a size and never remembers a zero.
pub fn ng_step(up: bool, current: Sizes, remembered: Option<Sizes>, status: &str) -> NgStep {
    if status != "ACTIVE" {
        return NgStep::Skip(format!(
            "node group is {status}: the next reconcile retries"
        ));
    }
    match (up, current.is_down()) {
        (false, true) | (true, false) => NgStep::Nothing,
        (false, false) => NgStep::ScaleDown {
            remember: Some(current),
            max: current.max.max(1),
        },
        (true, true) => match remembered {
            Some(s) => NgStep::ScaleUp(s),
            None => NgStep::Skip("no remembered size: scale it up by hand once".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn policy() -> Policy {
        Policy {
            named: BTreeMap::from([(
                "office-hours".into(),
                "Mon-Fri 07:00-20:00 UTC".parse().unwrap(),
            )]),
            default: None,
            holidays: vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn named_schedule_decides_reconcile() {
        let t = tags(&[(TAG_SCHEDULE, "office-hours")]);
        assert!(matches!(
            desired(&t, &policy(), Action::Reconcile, at("2026-11-30T10:00:00Z")).unwrap(),
            Desired::Up(_)
        ));
        assert!(matches!(
            desired(&t, &policy(), Action::Reconcile, at("2026-11-28T10:00:00Z")).unwrap(),
            Desired::Down(_)
        ));
    }

    #[test]
    fn keep_up_until_overrides_shutdown_until_it_passes() {
        let t = tags(&[
            (TAG_SCHEDULE, "office-hours"),
            (TAG_KEEP_UP_UNTIL, "2026-11-30T23:00:00Z"),
        ]);
        assert!(matches!(
            desired(&t, &policy(), Action::Shutdown, at("2026-11-30T20:00:00Z")).unwrap(),
            Desired::Up(_)
        ));
        assert!(matches!(
            desired(&t, &policy(), Action::Shutdown, at("2026-11-30T23:30:00Z")).unwrap(),
            Desired::Down(_)
        ));
        let bad = tags(&[
            (TAG_SCHEDULE, "office-hours"),
            (TAG_KEEP_UP_UNTIL, "tomorrow"),
        ]);
        assert!(
            desired(
                &bad,
                &policy(),
                Action::Shutdown,
                at("2026-11-30T20:00:00Z")
            )
            .unwrap_err()
            .contains("keep-up-until")
        );
    }

    #[test]
    fn holiday_skips_startup() {
        let t = tags(&[(TAG_SCHEDULE, "office-hours")]);
        assert!(matches!(
            desired(&t, &policy(), Action::Startup, at("2026-12-25T07:00:00Z")).unwrap(),
            Desired::Leave(_)
        ));
        assert!(matches!(
            desired(&t, &policy(), Action::Startup, at("2026-12-28T07:00:00Z")).unwrap(),
            Desired::Up(_)
        ));
    }

    #[test]
    fn not_opted_in_or_excluded_is_left_alone() {
        assert!(matches!(
            desired(
                &tags(&[]),
                &policy(),
                Action::Shutdown,
                at("2026-11-30T20:00:00Z")
            )
            .unwrap(),
            Desired::Leave(_)
        ));
        assert!(matches!(
            desired(
                &tags(&[(TAG_SCHEDULE, "none")]),
                &policy(),
                Action::Shutdown,
                at("2026-11-30T20:00:00Z")
            )
            .unwrap(),
            Desired::Leave(_)
        ));
        assert!(
            desired(
                &tags(&[(TAG_SCHEDULE, "sometimes")]),
                &policy(),
                Action::Shutdown,
                at("2026-11-30T20:00:00Z")
            )
            .is_err()
        );
    }

    #[test]
    fn database_steps() {
        assert_eq!(db_step(false, "available", None), DbStep::Stop);
        assert_eq!(db_step(true, "stopped", None), DbStep::Start);
        assert_eq!(db_step(false, "stopped", None), DbStep::Nothing);
        assert!(
            matches!(db_step(false, "backing-up", None), DbStep::Skip(r) if r.contains("next reconcile"))
        );
        assert!(matches!(
            db_step(false, "available", Some("read replica")),
            DbStep::Skip(_)
        ));
    }

    #[test]
    fn node_group_sizes_are_never_forgotten_nor_overwritten_by_zero() {
        let up = Sizes {
            min: 2,
            max: 3,
            desired: 2,
        };
        let down = Sizes {
            min: 0,
            max: 3,
            desired: 0,
        };
        assert_eq!(
            ng_step(false, up, None, "ACTIVE"),
            NgStep::ScaleDown {
                remember: Some(up),
                max: 3
            }
        );
        assert_eq!(
            ng_step(false, down, Some(up), "ACTIVE"),
            NgStep::Nothing,
            "shutdown twice keeps the size"
        );
        assert_eq!(ng_step(true, down, Some(up), "ACTIVE"), NgStep::ScaleUp(up));
        assert!(matches!(
            ng_step(true, down, None, "ACTIVE"),
            NgStep::Skip(_)
        ));
        assert!(matches!(
            ng_step(false, up, None, "UPDATING"),
            NgStep::Skip(_)
        ));
        assert_eq!(Sizes::decode("2,3,2"), Some(up));
        assert_eq!(
            Sizes::decode("0,0,0"),
            None,
            "a zero max is never a remembered size"
        );
    }
}
