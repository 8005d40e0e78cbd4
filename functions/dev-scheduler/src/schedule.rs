//! Schedules in a readable syntax: `Mon-Fri 07:00-20:00 America/New_York`. Days are a range or a
//! comma list (`Mon,Wed,Fri`, `Mon-Fri`, `Sat-Sun`, `daily`); the window may run overnight
//! (`Mon-Fri 22:00-06:00` starts on the listed day and ends the next morning); the zone is an
//! IANA name, evaluated on local wall-clock time, so DST shifts move nothing.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// How far back [`Schedule::last_change`] looks: two weeks covers every weekly schedule, with
/// room for a holiday.
const LOOKBACK_DAYS: u64 = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub text: String,
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    pub tz: Tz,
}

fn weekday(s: &str) -> Option<Weekday> {
    Weekday::from_str(s).ok()
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [days_part, window, zone] = parts.as_slice() else {
            return Err(format!(
                "schedule {text:?}: expected \"<days> <HH:MM-HH:MM> <IANA zone>\", e.g. \"Mon-Fri 07:00-20:00 Europe/Berlin\""
            ));
        };
        let mut days = [false; 7];
        if days_part.eq_ignore_ascii_case("daily") {
            days = [true; 7];
        } else {
            for item in days_part.split(',') {
                match item.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (weekday(a), weekday(b));
                        let (Some(a), Some(b)) = (a, b) else {
                            return Err(format!(
                                "schedule {text:?}: {item:?} is not a day range like Mon-Fri"
                            ));
                        };
                        let mut d = a;
                        loop {
                            days[d.num_days_from_monday() as usize] = true;
                            if d == b {
                                break;
                            }
                            d = d.succ();
                        }
                    }
                    None => {
                        let d = weekday(item)
                            .ok_or_else(|| format!("schedule {text:?}: {item:?} is not a day"))?;
                        days[d.num_days_from_monday() as usize] = true;
                    }
                }
            }
        }
        let (s, e) = window.split_once('-').ok_or_else(|| {
            format!("schedule {text:?}: {window:?} is not a window like 07:00-20:00")
        })?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("schedule {text:?}: {t:?} is not a time HH:MM"))
        };
        let (start, end) = (time(s)?, time(e)?);
        if start == end {
            return Err(format!("schedule {text:?}: the window is empty"));
        }
        let tz = Tz::from_str(zone)
            .map_err(|_| format!("schedule {text:?}: {zone:?} is not an IANA time zone"))?;
        Ok(Schedule {
            text: text.to_owned(),
            days,
            start,
            end,
            tz,
        })
    }
}

impl Schedule {
    fn day_on(&self, d: Weekday) -> bool {
        self.days[d.num_days_from_monday() as usize]
    }

    /// Should the resource be up at `now`? `holidays` are local dates when it stays down.
    pub fn is_up(&self, now: DateTime<Utc>, holidays: &[NaiveDate]) -> bool {
        let local = now.with_timezone(&self.tz);
        let (date, t) = (local.date_naive(), local.time());
        if self.start < self.end {
            self.day_on(local.weekday())
                && t >= self.start
                && t < self.end
                && !holidays.contains(&date)
        } else {
            // Overnight: the evening part belongs to today, the morning part to yesterday.
            let yesterday = date.pred_opt().unwrap_or(date);
            (self.day_on(local.weekday()) && t >= self.start && !holidays.contains(&date))
                || (self.day_on(local.weekday().pred())
                    && t < self.end
                    && !holidays.contains(&yesterday))
        }
    }
}

impl Schedule {
    /// The latest instant at or before `now` when [`Schedule::is_up`] changed: the start of the
    /// period `now` is in. `None` when nothing changed in the last two weeks (a long holiday).
    /// Candidates are the window's start and end and local midnight (where holidays begin and
    /// end) of each day; a time inside a DST gap happens when the clock jumps past it.
    pub fn last_change(&self, now: DateTime<Utc>, holidays: &[NaiveDate]) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&self.tz).date_naive();
        for back in 0..=LOOKBACK_DAYS {
            let Some(date) = today.checked_sub_days(Days::new(back)) else {
                break;
            };
            let best = [self.start, self.end, NaiveTime::MIN]
                .into_iter()
                .filter_map(|t| self.instant(date.and_time(t)))
                .filter(|at| *at <= now)
                .filter(|at| {
                    self.is_up(*at - TimeDelta::seconds(1), holidays) != self.is_up(*at, holidays)
                })
                .max();
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// When the local wall clock first shows `local`.
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        (0..=180).find_map(|m| {
            match self
                .tz
                .from_local_datetime(&(local + TimeDelta::minutes(m)))
            {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    Some(t.with_timezone(&Utc))
                }
                LocalResult::None => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn office_hours_in_new_york() {
        let s: Schedule = "Mon-Fri 07:00-20:00 America/New_York".parse().unwrap();
        assert!(s.is_up(at("2026-11-30T12:00:00Z"), &[]), "Mon 07:00 EST");
        assert!(!s.is_up(at("2026-11-30T11:59:00Z"), &[]), "Mon 06:59 EST");
        assert!(!s.is_up(at("2026-12-01T01:00:00Z"), &[]), "Mon 20:00 EST");
        assert!(!s.is_up(at("2026-11-28T15:00:00Z"), &[]), "Saturday");
    }

    #[test]
    fn dst_changes_nothing_on_the_wall_clock() {
        let s: Schedule = "Mon-Fri 07:00-20:00 America/New_York".parse().unwrap();
        // Monday 9 March 2026 is after the spring change (EDT, UTC-4): 07:00 local = 11:00 UTC.
        assert!(s.is_up(at("2026-03-09T11:00:00Z"), &[]));
        assert!(!s.is_up(at("2026-03-09T10:59:00Z"), &[]));
        // Friday 6 March 2026, before it (EST, UTC-5): 07:00 local = 12:00 UTC.
        assert!(!s.is_up(at("2026-03-06T11:30:00Z"), &[]));
        assert!(s.is_up(at("2026-03-06T12:00:00Z"), &[]));
    }

    #[test]
    fn overnight_window_belongs_to_the_day_it_starts() {
        let s: Schedule = "Fri 22:00-06:00 Europe/Berlin".parse().unwrap();
        assert!(s.is_up(at("2026-11-27T22:30:00Z"), &[]), "Fri 23:30 CET");
        assert!(
            s.is_up(at("2026-11-28T04:00:00Z"), &[]),
            "Sat 05:00 CET, still Friday's night"
        );
        assert!(!s.is_up(at("2026-11-28T05:00:00Z"), &[]), "Sat 06:00 CET");
        assert!(!s.is_up(at("2026-11-26T22:30:00Z"), &[]), "Thursday night");
    }

    #[test]
    fn holidays_keep_it_down() {
        let s: Schedule = "daily 08:00-18:00 UTC".parse().unwrap();
        let xmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert!(!s.is_up(at("2026-12-25T10:00:00Z"), &[xmas]));
        assert!(s.is_up(at("2026-12-24T10:00:00Z"), &[xmas]));
    }

    #[test]
    fn the_last_change_is_the_start_of_the_current_period_in_its_own_zone() {
        let ny: Schedule = "Mon-Fri 07:00-20:00 America/New_York".parse().unwrap();
        // Tuesday 1 Dec 2026 15:00 UTC = 10:00 EST: up since 07:00 EST = 12:00 UTC.
        assert_eq!(
            ny.last_change(at("2026-12-01T15:00:00Z"), &[]),
            Some(at("2026-12-01T12:00:00Z"))
        );
        // Saturday: down since Friday 20:00 EST = Saturday 01:00 UTC.
        assert_eq!(
            ny.last_change(at("2026-12-05T15:00:00Z"), &[]),
            Some(at("2026-12-05T01:00:00Z"))
        );
        // Exactly at a transition, the transition itself.
        assert_eq!(
            ny.last_change(at("2026-12-01T12:00:00Z"), &[]),
            Some(at("2026-12-01T12:00:00Z"))
        );
    }

    #[test]
    fn last_change_across_overnight_windows_holidays_and_dst() {
        let night: Schedule = "Fri 22:00-06:00 UTC".parse().unwrap();
        assert_eq!(
            night.last_change(at("2026-12-05T03:00:00Z"), &[]),
            Some(at("2026-12-04T22:00:00Z")),
            "Saturday 03:00: up since Friday 22:00"
        );
        assert_eq!(
            night.last_change(at("2026-12-03T12:00:00Z"), &[]),
            Some(at("2026-11-28T06:00:00Z")),
            "Thursday: down since last Saturday 06:00"
        );
        let daily: Schedule = "daily 08:00-18:00 UTC".parse().unwrap();
        let xmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert_eq!(
            daily.last_change(at("2026-12-25T12:00:00Z"), &[xmas]),
            Some(at("2026-12-24T18:00:00Z")),
            "a holiday has no morning start"
        );
        // 02:30 does not exist on 8 March 2026 in New York: the window starts when the clock
        // jumps to 03:00 EDT (07:00 UTC).
        let early: Schedule = "daily 02:30-05:00 America/New_York".parse().unwrap();
        assert_eq!(
            early.last_change(at("2026-03-08T08:00:00Z"), &[]),
            Some(at("2026-03-08T07:00:00Z"))
        );
    }

    #[test]
    fn malformed_schedules_say_what_is_wrong() {
        for (text, expect) in [
            ("Mon-Fri 07:00-20:00", "expected"),
            ("Mon-Fry 07:00-20:00 UTC", "not a day range"),
            ("Mon-Fri 7-20 UTC", "not a time"),
            ("Mon-Fri 07:00-20:00 Mars/Olympus", "not an IANA time zone"),
            ("Mon 07:00-07:00 UTC", "empty"),
        ] {
            let err = text.parse::<Schedule>().unwrap_err();
            assert!(err.contains(expect), "{text}: {err}");
        }
    }
}
