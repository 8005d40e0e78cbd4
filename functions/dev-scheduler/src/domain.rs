//! Pure decisions: what state a resource should be in now (schedule, overrides, holidays,
//! action), and what that means for a database or a node group in the state it is in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use caretaker_shared::Guard;
use caretaker_shared::error::quote;
use caretaker_shared::report::Outcome;
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
    /// The fan-out's first step: the accounts a run acts in.
    Accounts,
    /// The fan-out's last step: the accounts' reports as one, and one notification.
    Summarize,
}

impl Action {
    pub fn parse(s: &str) -> Result<Action, String> {
        match s {
            "shutdown" => Ok(Action::Shutdown),
            "startup" => Ok(Action::Startup),
            "reconcile" => Ok(Action::Reconcile),
            "status" => Ok(Action::Status),
            "accounts" => Ok(Action::Accounts),
            "summarize" => Ok(Action::Summarize),
            other => Err(format!(
                "unknown action {}: expected shutdown, startup, reconcile, status, accounts or summarize",
                quote(other)
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Shutdown => "shutdown",
            Action::Startup => "startup",
            Action::Reconcile => "reconcile",
            Action::Status => "status",
            Action::Accounts => "accounts",
            Action::Summarize => "summarize",
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

/// Schedules by name, the account-wide default, the holiday list, and how far ahead of a
/// schedule's start databases and node groups start (workloads follow at the start itself).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub named: BTreeMap<String, Schedule>,
    pub default: Option<Schedule>,
    pub holidays: Vec<NaiveDate>,
    /// `WARM_UP_MINUTES`: an RDS start takes minutes, so databases and node groups start this
    /// long before the schedule does; stopping is never early.
    pub warm_up: chrono::TimeDelta,
    /// `MAX_KEEP_UP_DAYS`: a `caretaker/keep-up-until` further ahead is refused (a forgotten tag
    /// must not keep dev up for months). Zero = no limit.
    pub max_keep_up: chrono::TimeDelta,
}

/// What Caretaker remembers of an account between runs (durably, see `state`): when its last
/// run was, which routine changes are still pending, and the latest forced action.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    pub last_run: Option<DateTime<Utc>>,
    /// `kind/id` of resources whose scheduled change could not be made yet: when the next run
    /// makes it, it is still routine, not drift.
    pub pending: BTreeSet<String>,
    pub hold: Option<Hold>,
    /// Failures already said (`kind id` → cause, since, last said): each is said when it
    /// starts, at most daily while it lasts, and when it clears (`caretaker_shared::once`).
    pub failures: BTreeMap<String, caretaker_shared::once::Failing>,
    /// budget-guard's shutdown, while it holds.
    pub budget_hold: Option<BudgetHold>,
    /// This morning's progress, until it is said ready (or late) and the night ends it.
    pub morning: Option<crate::ready::Morning>,
}

impl Policy {
    /// The zone the team reads times in: the default schedule's, else the first named one's.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.default
            .as_ref()
            .or_else(|| self.named.values().next())
            .map_or(chrono_tz::UTC, |s| s.tz)
    }
}

/// budget-guard's shutdown request: dev stays down until the budget period ends (`until`) or a
/// person lifts it, with a `startup` or a `caretaker/keep-up-until` set after the request. The
/// keep-up values found at the request are remembered as ignored (tags cannot say when they were
/// set; a value that was not there then was set after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetHold {
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub ignored_keep_up: BTreeSet<String>,
    /// The request's own run: every keep-up found is ignored and remembered (not stored).
    pub recording: bool,
}

impl BudgetHold {
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        now >= self.at && now < self.until
    }

    /// How a person lifts it, for the report and the notice.
    pub const LIFT: &'static str =
        "lift it with {\"action\": \"startup\"} or a caretaker/keep-up-until set now";
}

/// The end of the budget period a request made at `now` belongs to: AWS Budgets' monthly period,
/// the first instant of the next calendar month (UTC).
pub fn budget_period_end(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// A forced `shutdown` (budget-guard's, or a person's) or `startup`: it holds each resource in
/// that state until the resource's schedule next changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub up: bool,
    pub at: DateTime<Utc>,
}

/// At most this many pending resources are remembered (the item stays far below DynamoDB's
/// 400 KB); beyond it a late change may be reported as drift.
pub const PENDING_CAP: usize = 300;

/// A decision and when the state it asks for began: the schedule's last change, the end of an
/// expired keep-up, a hold. `None` when no transition is involved (a keep-up tag, a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub desired: Desired,
    pub since: Option<DateTime<Utc>>,
    /// A keep-up value a budget hold ignored (remembered by the request's own run).
    pub ignored_keep_up: Option<String>,
}

/// What the resource should be now. A malformed tag is an error for that resource only.
pub fn desired(
    tags: &BTreeMap<String, String>,
    policy: &Policy,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Desired, String> {
    judge(tags, policy, action, now, None).map(|j| j.desired)
}

/// [`desired`], with the account's hold, and since when.
pub fn judge(
    tags: &BTreeMap<String, String>,
    policy: &Policy,
    action: Action,
    now: DateTime<Utc>,
    hold: Option<Hold>,
) -> Result<Judged, String> {
    judge_with(tags, policy, action, now, hold, None)
}

/// [`judge`], with budget-guard's shutdown when one holds.
pub fn judge_with(
    tags: &BTreeMap<String, String>,
    policy: &Policy,
    action: Action,
    now: DateTime<Utc>,
    hold: Option<Hold>,
    budget: Option<&BudgetHold>,
) -> Result<Judged, String> {
    let schedule = match tags.get(TAG_SCHEDULE).map(|s| s.trim()) {
        Some("none" | "exclude" | "off") => {
            return Ok(leave("excluded by tag caretaker/schedule"));
        }
        Some(name) if policy.named.contains_key(name) => &policy.named[name],
        Some(inline) => &inline
            .parse::<Schedule>()
            .map_err(|e| format!("tag {TAG_SCHEDULE}: {e}"))?,
        None => match &policy.default {
            Some(s) => s,
            None => return Ok(leave("not opted in (no caretaker/schedule tag)")),
        },
    };
    let keep_up = match tags.get(TAG_KEEP_UP_UNTIL) {
        None => None,
        Some(v) => Some(parse_until(v).ok_or_else(|| {
            format!("tag {TAG_KEEP_UP_UNTIL}: {v:?} is not an RFC 3339 time or a date")
        })?),
    };
    if let Some(u) = keep_up
        && policy.max_keep_up > chrono::TimeDelta::zero()
        && u > now + policy.max_keep_up
    {
        return Err(format!(
            "tag {TAG_KEEP_UP_UNTIL}: {u} is more than {} days ahead (MAX_KEEP_UP_DAYS): refused, \
             the resource is left as it is until the tag is corrected",
            policy.max_keep_up.num_days()
        ));
    }
    let set = |up: bool, why: String, since: Option<DateTime<Utc>>| Judged {
        desired: if up {
            Desired::Up(why)
        } else {
            Desired::Down(why)
        },
        since,
        ignored_keep_up: None,
    };
    // budget-guard's shutdown holds dev down until the period ends or a person lifts it: a
    // startup, or a keep-up-until that was not there when it was asked for.
    if let Some(b) = budget.filter(|b| action != Action::Startup && b.holds(now)) {
        let raw = tags.get(TAG_KEEP_UP_UNTIL).map(|v| v.trim().to_owned());
        let set_after = raw
            .as_ref()
            .is_some_and(|v| !b.recording && !b.ignored_keep_up.contains(v));
        if let Some(u) = keep_up.filter(|u| now < *u && set_after) {
            return Ok(set(
                true,
                format!("kept up until {u} by a tag set after budget-guard's shutdown"),
                None,
            ));
        }
        let why = format!(
            "held down by budget-guard's shutdown of {} ({}) until {}; {}",
            b.at,
            b.reason,
            b.until,
            BudgetHold::LIFT
        );
        return Ok(Judged {
            ignored_keep_up: raw.filter(|_| b.recording),
            ..set(false, why, Some(b.at))
        });
    }
    if let Some(u) = keep_up.filter(|u| now < *u) {
        return Ok(set(true, format!("kept up until {u} by tag"), None));
    }
    match action {
        Action::Shutdown => return Ok(set(false, "shutdown requested".into(), None)),
        Action::Startup => return Ok(set(true, "startup requested".into(), None)),
        Action::Reconcile | Action::Status | Action::Accounts | Action::Summarize => {}
    }
    let holidays = &policy.holidays;
    let lead = policy.warm_up;
    let up_now = schedule.is_up(now, holidays);
    // Warming up: down now, up within the lead. Its transition is the start less the lead.
    let early = !up_now && lead > chrono::TimeDelta::zero() && schedule.is_up(now + lead, holidays);
    let up = up_now || early;
    let changed = if early {
        schedule
            .last_change(now + lead, holidays)
            .map(|start| start - lead)
    } else {
        schedule.last_change(now, holidays)
    };
    // An expired keep-up is a transition of its own.
    let since = changed.max(keep_up);
    if let Some(h) = hold
        && now >= h.at
        && h.up != up
        && changed.is_none_or(|c| c <= h.at)
    {
        let why = if h.up {
            format!(
                "held up by the startup of {} until {} next stops it",
                h.at, schedule.text
            )
        } else {
            format!(
                "held down by the shutdown of {} until {} next starts it",
                h.at, schedule.text
            )
        };
        return Ok(set(h.up, why, Some(h.at)));
    }
    let today = now.with_timezone(&schedule.tz).date_naive();
    let why = if early {
        let start = changed.map(|c| {
            (c + lead)
                .with_timezone(&schedule.tz)
                .format("%H:%M")
                .to_string()
        });
        format!(
            "warming up {} min ahead of {} (starts {})",
            lead.num_minutes(),
            schedule.text,
            start.unwrap_or_default()
        )
    } else if up {
        format!("within {}", schedule.text)
    } else if schedule.is_up(now, &[]) {
        format!("{today} is a holiday ({})", schedule.text)
    } else {
        format!("outside {}", schedule.text)
    };
    Ok(set(up, why, since))
}

fn leave(why: &str) -> Judged {
    Judged {
        desired: Desired::Leave(why.into()),
        since: None,
        ignored_keep_up: None,
    }
}

/// Whether a run brings things up, and so goes in the morning order (databases → node groups →
/// workloads) rather than the night order: a `startup`, or a periodic run while any of the
/// account's schedules is up or warming up, or while a `startup` holds (no schedule has changed
/// since it). A schedule written inline on one resource's tag is not seen here: its resource comes
/// up in the order of the named schedules' run.
pub fn morning(policy: &Policy, action: Action, now: DateTime<Utc>, hold: Option<Hold>) -> bool {
    let schedules = || policy.named.values().chain(policy.default.iter());
    match action {
        Action::Startup => true,
        Action::Shutdown => false,
        Action::Reconcile | Action::Status | Action::Accounts | Action::Summarize => {
            schedules().any(|s| s.is_up(now + policy.warm_up, &policy.holidays))
                || hold.is_some_and(|h| {
                    h.up && now >= h.at
                        && schedules().all(|s| {
                            s.last_change(now, &policy.holidays)
                                .is_none_or(|c| c <= h.at)
                        })
                })
        }
    }
}

/// A decided resource, ready to act on: up or down, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub up: bool,
    pub why: String,
    since: Option<DateTime<Utc>>,
}

/// How a run's outcome for a decided resource reads against the account's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Nothing to do, or the schedule's own change (its transition came since the last run).
    Routine,
    /// Found away from its schedule after Caretaker had brought it there: put back, notified.
    Drift,
    /// A scheduled change not made yet (failed, or a state that does not allow it now).
    Pending,
}

/// Decides resources of one account for one run: schedule (overrides, holidays, hold), then the
/// guard. Production is refused before anything else happens, opted in or not.
#[derive(Debug, Clone)]
pub struct Decider {
    pub policy: Policy,
    pub guard: Guard,
    pub account: String,
    pub action: Action,
    pub now: DateTime<Utc>,
    pub memory: Memory,
    /// The last run changes are judged against: the memory's, or one interval ago without a
    /// `STATE_TABLE`; `None` on the first run (everything it does is routine).
    pub last_run: Option<DateTime<Utc>>,
    /// What [`Decider::classify`] saw, shared by the layers of one account's run.
    pub seen: Arc<Mutex<Seen>>,
}

/// What one account's run saw, for the memory written after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// A change was made, or a schedule changed since the last run.
    pub news: bool,
    pub pending: BTreeSet<String>,
    /// Keep-up values a budget shutdown's own run ignored (remembered with the hold).
    pub keep_up_ignored: BTreeSet<String>,
}

impl Decider {
    /// The memory to write after the run, or `None` when it would only repeat what is stored
    /// (so a second run over an unchanged world writes nothing).
    pub fn memory_after(&self, hold: Option<Hold>) -> Option<Memory> {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let hold = hold.or(self.memory.hold);
        // A startup lifts budget-guard's shutdown; its period's end ends it; its own run
        // remembers the keep-up values it ignored.
        let budget_hold = match &self.memory.budget_hold {
            _ if self.action == Action::Startup => None,
            Some(b) if self.now >= b.until => None,
            Some(b) if b.recording => Some(BudgetHold {
                ignored_keep_up: seen.keep_up_ignored.clone(),
                recording: false,
                ..b.clone()
            }),
            other => other.clone(),
        };
        let same = !seen.news
            && seen.pending == self.memory.pending
            && hold == self.memory.hold
            && budget_hold == self.memory.budget_hold;
        if same && self.memory.last_run.is_some() {
            return None;
        }
        Some(Memory {
            last_run: Some(self.now),
            pending: seen.pending.into_iter().take(PENDING_CAP).collect(),
            hold,
            failures: self.memory.failures.clone(),
            budget_hold,
            morning: self.memory.morning.clone(),
        })
    }
}

impl Decider {
    /// The decision, or the outcome to report when the resource is left alone.
    pub fn decide(&self, tags: &BTreeMap<String, String>) -> Result<Decision, Outcome> {
        let judged = judge_with(
            tags,
            &self.policy,
            self.action,
            self.now,
            self.memory.hold,
            self.memory.budget_hold.as_ref(),
        )
        .map_err(Outcome::failed)?;
        if let Some(v) = judged.ignored_keep_up
            && let Ok(mut seen) = self.seen.lock()
        {
            seen.keep_up_ignored.insert(v);
        }
        let (up, why) = match judged.desired {
            Desired::Leave(why) => return Err(Outcome::skipped(why)),
            Desired::Up(why) => (true, why),
            Desired::Down(why) => (false, why),
        };
        self.guard
            .check(&self.account, tags)
            .map_err(|r| Outcome::skipped(format!("refused: {r}")))?;
        Ok(Decision {
            up,
            why,
            since: judged.since,
        })
    }

    /// Did this resource's schedule change since the last run (the run has news to remember)?
    pub fn transitioned(&self, d: &Decision) -> bool {
        d.since
            .is_some_and(|s| self.last_run.is_none_or(|last| s > last))
    }

    /// Routine, drift or pending: `key` is `kind/id`, as remembered in [`Memory::pending`].
    pub fn classify(&self, key: &str, d: &Decision, outcome: &Outcome) -> Class {
        let was_pending = self.memory.pending.contains(key);
        let class = self.class(was_pending, d, outcome);
        if let Ok(mut seen) = self.seen.lock() {
            seen.news |= self.transitioned(d) || matches!(outcome, Outcome::Changed { .. });
            if class == Class::Pending {
                seen.pending.insert(key.to_owned());
            }
        }
        class
    }

    fn class(&self, was_pending: bool, d: &Decision, outcome: &Outcome) -> Class {
        match outcome {
            Outcome::Unchanged => Class::Routine,
            Outcome::Changed { .. } => {
                let settled_before = d
                    .since
                    .zip(self.last_run)
                    .is_some_and(|(s, last)| s <= last);
                if self.action == Action::Reconcile && settled_before && !was_pending {
                    Class::Drift
                } else {
                    Class::Routine
                }
            }
            _ if was_pending || d.since.is_none() || self.transitioned(d) => Class::Pending,
            _ => Class::Routine,
        }
    }

    /// The same run for Kubernetes workloads: the account-wide default schedule does not apply
    /// (only opted-in namespaces and workloads are touched).
    /// The decider for Kubernetes workloads: the account-wide default schedule does not apply
    /// (namespaces opt in themselves), and they come up at the schedule's start, not ahead of it.
    pub fn for_workloads(&self) -> Decider {
        Decider {
            policy: Policy {
                default: None,
                warm_up: chrono::TimeDelta::zero(),
                ..self.policy.clone()
            },
            ..self.clone()
        }
    }
}

/// The cause of a database's drift, from its RDS event messages (oldest first): RDS's own start
/// after seven days stopped is named; otherwise the latest event is quoted (`quote` caps it).
pub fn drift_cause<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    let messages: Vec<&str> = messages.collect();
    if messages
        .iter()
        .any(|m| m.contains("exceeding the maximum allowed time being stopped"))
    {
        return "RDS started it after 7 days stopped (RDS event)".into();
    }
    match messages.last() {
        Some(m) => format!(
            "not known; the latest RDS event says {}",
            caretaker_shared::error::quote(m)
        ),
        None => "not known (no RDS event in the last day): started or stopped outside Caretaker, e.g. by hand".into(),
    }
}

/// An RDS instance or an Aurora cluster: both are stopped and started the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Instance,
    Cluster,
}

impl DbKind {
    pub fn report_kind(self) -> &'static str {
        match self {
            DbKind::Instance => "rds-instance",
            DbKind::Cluster => "rds-cluster",
        }
    }
}

/// A database as the schedule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub kind: DbKind,
    pub id: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
    /// Why RDS can never stop it, if so.
    pub ineligible: Option<&'static str>,
    /// What it bills: class (an instance's), engine, Multi-AZ, an Aurora cluster's member
    /// instances, its storage.
    pub billing: DbBilling,
}

/// The facts a database's price depends on (the savings ledger and what still bills at night).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbBilling {
    pub class: Option<String>,
    pub engine: String,
    pub multi_az: bool,
    /// An Aurora cluster's member instance ids.
    pub members: Vec<String>,
    pub storage_gb: Option<i32>,
    pub storage_type: Option<String>,
}

/// Instances RDS cannot stop on their own.
pub fn instance_ineligible(
    is_read_replica: bool,
    has_read_replicas: bool,
    aurora_member: bool,
) -> Option<&'static str> {
    if is_read_replica {
        Some("read replica: RDS cannot stop it")
    } else if has_read_replicas {
        Some("has read replicas: RDS cannot stop it")
    } else if aurora_member {
        Some("Aurora member: its cluster is scheduled instead")
    } else {
        None
    }
}

/// A node group as the schedule sees it: its cluster's tags, then its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroup {
    pub cluster: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub sizes: Sizes,
    pub status: String,
    /// Its EC2 instance types (the first prices its nodes).
    pub instance_types: Vec<String>,
}

impl NodeGroup {
    pub fn id(&self) -> String {
        format!("{}/{}", self.cluster, self.name)
    }
    pub fn size_tag(&self) -> String {
        format!("{TAG_SIZE_PREFIX}{}", self.name)
    }
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

/// Annotation holding a Deployment's or StatefulSet's replica count while caretaker holds it
/// at zero. Written before the scale-down, removed after the scale-up.
pub const ANN_REPLICAS: &str = "caretaker/original-replicas";
/// Annotation marking a CronJob that caretaker suspended (one suspended by someone else stays
/// suspended in the morning).
pub const ANN_SUSPENDED: &str = "caretaker/suspended";

/// Replica bounds of the HorizontalPodAutoscaler that targets a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hpa {
    pub name: String,
    pub min: i32,
    pub max: i32,
}

/// The step for a Deployment or a StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaStep {
    /// Write `remember` to the annotation, then scale to zero.
    ScaleDown {
        remember: i32,
    },
    /// Scale to `to`, then remove the annotation.
    ScaleUp {
        to: i32,
    },
    /// Running with a leftover annotation (scaled up by someone else, or the removal failed):
    /// remove it, so that a later manual scale to zero is not undone in the morning.
    Forget,
    Nothing,
    Skip(String),
}

/// Never remembers a zero, never forgets a count: a second shutdown finds zero replicas and
/// does nothing, so the annotation written by the first one stays. The day count wins: a
/// workload scaled up by hand at night goes back to zero with the count remembered when the
/// night began (the annotation is only ever written just before a scale to zero, and removed if
/// that scale is refused, so a remembered count is the day's). With an HPA, the count is
/// brought back inside its bounds; while at zero the HPA is inactive (Kubernetes does not
/// autoscale a target scaled to zero), so it cannot undo the shutdown.
pub fn replica_step(
    up: bool,
    replicas: i32,
    remembered: Option<&str>,
    hpa: Option<&Hpa>,
) -> ReplicaStep {
    let parsed = remembered.map(|r| r.trim().parse::<i32>().ok().filter(|n| *n >= 1));
    match (up, replicas) {
        (false, 0) => ReplicaStep::Nothing,
        (false, n) => ReplicaStep::ScaleDown {
            remember: parsed.flatten().unwrap_or(n),
        },
        (true, 0) => match parsed {
            None => ReplicaStep::Skip(
                "at 0 replicas, not scaled down by caretaker: left as it is".into(),
            ),
            Some(None) => ReplicaStep::Skip(format!(
                "annotation {ANN_REPLICAS} {:?} is not a replica count: set it by hand",
                remembered.unwrap_or_default()
            )),
            Some(Some(n)) => ReplicaStep::ScaleUp {
                to: match hpa {
                    Some(h) => n.clamp(h.min.max(1), h.max.max(h.min.max(1))),
                    None => n,
                },
            },
        },
        (true, _) if remembered.is_some() => ReplicaStep::Forget,
        (true, _) => ReplicaStep::Nothing,
    }
}

/// The step for a CronJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuspendStep {
    /// Suspend and mark it as suspended by caretaker (one patch).
    Suspend,
    /// Resume and remove the mark (one patch).
    Resume,
    /// Running with a leftover mark (resumed by hand): remove it.
    Forget,
    Nothing,
    Skip(String),
}

pub fn suspend_step(up: bool, suspended: bool, marked: bool) -> SuspendStep {
    match (up, suspended, marked) {
        (false, false, _) => SuspendStep::Suspend,
        (false, true, _) => SuspendStep::Nothing,
        (true, true, true) => SuspendStep::Resume,
        (true, true, false) => {
            SuspendStep::Skip("suspended by someone else: left suspended".into())
        }
        (true, false, true) => SuspendStep::Forget,
        (true, false, false) => SuspendStep::Nothing,
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
            warm_up: chrono::TimeDelta::zero(),
            max_keep_up: chrono::TimeDelta::zero(),
        }
    }

    #[test]
    fn a_run_goes_in_the_morning_order_while_a_schedule_is_up_or_a_startup_holds() {
        let p = policy();
        // Tuesday night, nothing up: the night order.
        assert!(!morning(
            &p,
            Action::Reconcile,
            at("2026-12-01T22:15:00Z"),
            None
        ));
        assert!(morning(
            &p,
            Action::Reconcile,
            at("2026-12-01T10:00:00Z"),
            None
        ));
        assert!(morning(
            &p,
            Action::Startup,
            at("2026-12-01T22:00:00Z"),
            None
        ));
        // A startup at 22:00 holds: the next periodic run brings the rest up in the morning order,
        let up = Some(Hold {
            up: true,
            at: at("2026-12-01T22:00:00Z"),
        });
        assert!(morning(
            &p,
            Action::Reconcile,
            at("2026-12-01T22:15:00Z"),
            up
        ));
        // until the schedule next changes (Wednesday 07:00 start, then 20:00 stop).
        assert!(!morning(
            &p,
            Action::Reconcile,
            at("2026-12-02T21:00:00Z"),
            up
        ));
        // A shutdown's hold never makes a morning.
        let down = Some(Hold {
            up: false,
            at: at("2026-12-01T22:00:00Z"),
        });
        assert!(!morning(
            &p,
            Action::Reconcile,
            at("2026-12-01T22:15:00Z"),
            down
        ));
    }

    #[test]
    fn databases_warm_up_ahead_of_the_start_and_never_stop_early() {
        let p = Policy {
            warm_up: chrono::TimeDelta::minutes(15),
            ..policy()
        };
        let tags = BTreeMap::from([(TAG_SCHEDULE.to_owned(), "office-hours".to_owned())]);
        let judged = |t: &str| judge(&tags, &p, Action::Reconcile, at(t), None).unwrap();
        // Tuesday 06:45 UTC: 15 minutes before 07:00, up, its transition at 06:45.
        let j = judged("2026-12-01T06:45:00Z");
        assert!(
            matches!(j.desired, Desired::Up(ref w) if w.contains("warming up 15 min ahead") && w.contains("starts 07:00")),
            "{j:?}"
        );
        assert_eq!(j.since, Some(at("2026-12-01T06:45:00Z")));
        assert!(matches!(
            judged("2026-12-01T06:44:00Z").desired,
            Desired::Down(_)
        ));
        // 19:50, 20:00: stopping is never early, and at 20:00 it stops.
        assert!(
            matches!(judged("2026-12-01T19:50:00Z").desired, Desired::Up(ref w) if w.starts_with("within"))
        );
        assert!(matches!(
            judged("2026-12-01T20:00:00Z").desired,
            Desired::Down(_)
        ));
        // A holiday morning does not warm up; nor do workloads (their decider has no lead).
        assert!(matches!(
            judged("2026-12-25T06:50:00Z").desired,
            Desired::Down(_)
        ));
        let workloads = Policy {
            warm_up: chrono::TimeDelta::zero(),
            ..p.clone()
        };
        let w = judge(
            &tags,
            &workloads,
            Action::Reconcile,
            at("2026-12-01T06:50:00Z"),
            None,
        )
        .unwrap();
        assert!(matches!(w.desired, Desired::Down(_)));
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
    fn holiday_keeps_it_down_and_says_so_and_startup_is_a_request() {
        let t = tags(&[(TAG_SCHEDULE, "office-hours")]);
        assert_eq!(
            desired(&t, &policy(), Action::Reconcile, at("2026-12-25T09:00:00Z")).unwrap(),
            Desired::Down("2026-12-25 is a holiday (Mon-Fri 07:00-20:00 UTC)".into())
        );
        assert_eq!(
            desired(&t, &policy(), Action::Startup, at("2026-12-25T09:00:00Z")).unwrap(),
            Desired::Up("startup requested".into())
        );
    }

    #[test]
    fn a_hold_lasts_until_the_schedule_next_changes() {
        let t = tags(&[(TAG_SCHEDULE, "office-hours")]);
        let down = Some(Hold {
            up: false,
            at: at("2026-12-01T10:00:00Z"),
        });
        let j = judge(
            &t,
            &policy(),
            Action::Reconcile,
            at("2026-12-01T15:00:00Z"),
            down,
        )
        .unwrap();
        assert!(
            matches!(j.desired, Desired::Down(ref w) if w.contains("held down")),
            "{j:?}"
        );
        assert_eq!(j.since, Some(at("2026-12-01T10:00:00Z")));
        // Wednesday 07:00: the schedule's next start ends it.
        let j = judge(
            &t,
            &policy(),
            Action::Reconcile,
            at("2026-12-02T07:00:00Z"),
            down,
        )
        .unwrap();
        assert_eq!(
            j.desired,
            Desired::Up("within Mon-Fri 07:00-20:00 UTC".into())
        );
        // A startup at night holds until the schedule next stops it.
        let up = Some(Hold {
            up: true,
            at: at("2026-12-01T22:00:00Z"),
        });
        let j = judge(
            &t,
            &policy(),
            Action::Reconcile,
            at("2026-12-02T06:00:00Z"),
            up,
        )
        .unwrap();
        assert!(
            matches!(j.desired, Desired::Up(ref w) if w.contains("held up")),
            "{j:?}"
        );
        let j = judge(
            &t,
            &policy(),
            Action::Reconcile,
            at("2026-12-02T20:00:00Z"),
            up,
        )
        .unwrap();
        assert!(matches!(j.desired, Desired::Down(_)), "{j:?}");
    }

    fn decider(last_run: &str, pending: &[&str]) -> Decider {
        Decider {
            policy: policy(),
            guard: Guard::new(
                &crate::config::SchedulerConfig::from_env(&[].as_slice())
                    .unwrap()
                    .common,
                Some("111111111111"),
            ),
            account: "111111111111".into(),
            action: Action::Reconcile,
            now: at("2026-12-01T21:00:00Z"),
            memory: Memory {
                last_run: Some(at(last_run)),
                pending: pending.iter().map(|s| s.to_string()).collect(),
                hold: None,
                failures: Default::default(),
                budget_hold: None,
                morning: None,
            },
            last_run: Some(at(last_run)),
            seen: Default::default(),
        }
    }

    #[test]
    fn routine_is_a_transition_since_the_last_run_drift_is_not() {
        let t = tags(&[(TAG_SCHEDULE, "office-hours"), ("env", "dev")]);
        let stopped = Outcome::changed("stopped");
        // The 20:00 transition came after a 19:45 run: routine, late or not.
        let d = decider("2026-12-01T19:45:00Z", &[]);
        let dec = d.decide(&t).unwrap();
        assert!(!dec.up && d.transitioned(&dec));
        assert_eq!(
            d.classify("rds-instance/db", &dec, &stopped),
            Class::Routine
        );
        // After a 20:00 run had seen it: someone started it again.
        let d = decider("2026-12-01T20:00:00Z", &[]);
        let dec = d.decide(&t).unwrap();
        assert_eq!(d.classify("rds-instance/db", &dec, &stopped), Class::Drift);
        // Unless the 20:00 run could not stop it: then it is the change still pending.
        let d = decider("2026-12-01T20:00:00Z", &["rds-instance/db"]);
        assert_eq!(
            d.classify("rds-instance/db", &dec, &stopped),
            Class::Routine
        );
        let failed = Outcome::failed("throttled");
        assert_eq!(d.classify("rds-instance/db", &dec, &failed), Class::Pending);
        // A failure on a resource that had settled long ago is not pending news.
        let d = decider("2026-12-01T20:30:00Z", &[]);
        assert_eq!(d.classify("rds-instance/db", &dec, &failed), Class::Routine);
        // Keep-up tags are a person's request: never drift.
        let kept = tags(&[
            (TAG_SCHEDULE, "office-hours"),
            ("env", "dev"),
            (TAG_KEEP_UP_UNTIL, "2026-12-02"),
        ]);
        let dec = d.decide(&kept).unwrap();
        assert!(dec.up);
        assert_eq!(
            d.classify("rds-instance/db", &dec, &Outcome::changed("started")),
            Class::Routine
        );
    }

    #[test]
    fn drift_causes_name_rds_own_restart() {
        let seven = "DB instance is being started due to it exceeding the maximum allowed time being stopped.";
        assert_eq!(
            drift_cause(["DB instance stopped", seven, "DB instance started"].into_iter()),
            "RDS started it after 7 days stopped (RDS event)"
        );
        assert!(
            drift_cause(["DB instance started"].into_iter()).contains("\"DB instance started\"")
        );
        assert!(drift_cause([].into_iter()).contains("no RDS event"));
    }

    #[test]
    fn memory_is_written_only_when_there_is_news() {
        let t = tags(&[(TAG_SCHEDULE, "office-hours"), ("env", "dev")]);
        // A quiet run after the 20:00 run saw the transition: nothing to write.
        let d = decider("2026-12-01T20:00:00Z", &[]);
        let dec = d.decide(&t).unwrap();
        d.classify("rds-instance/db", &dec, &Outcome::Unchanged);
        assert_eq!(d.memory_after(None), None);
        // The first run after the transition writes, even when nothing had to change.
        let d = decider("2026-12-01T19:45:00Z", &[]);
        d.classify("rds-instance/db", &dec, &Outcome::Unchanged);
        let m = d.memory_after(None).unwrap();
        assert_eq!(m.last_run, Some(d.now));
        // A pending change is remembered; a hold is kept once written.
        let d = decider("2026-12-01T20:00:00Z", &[]);
        let failed = Outcome::failed("throttled");
        let d2 = decider("2026-12-01T19:45:00Z", &[]);
        assert_eq!(
            d2.classify("rds-instance/db", &dec, &failed),
            Class::Pending
        );
        assert!(
            d2.memory_after(None)
                .unwrap()
                .pending
                .contains("rds-instance/db")
        );
        let hold = Hold {
            up: false,
            at: d.now,
        };
        assert_eq!(d.memory_after(Some(hold)).unwrap().hold, Some(hold));
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

    #[test]
    fn replica_counts_are_remembered_once_and_restored_inside_hpa_bounds() {
        assert_eq!(
            replica_step(false, 3, None, None),
            ReplicaStep::ScaleDown { remember: 3 }
        );
        assert_eq!(
            replica_step(false, 0, Some("3"), None),
            ReplicaStep::Nothing,
            "a second shutdown keeps the remembered 3"
        );
        assert_eq!(
            replica_step(true, 0, Some("3"), None),
            ReplicaStep::ScaleUp { to: 3 }
        );
        let hpa = Hpa {
            name: "web".into(),
            min: 2,
            max: 5,
        };
        assert_eq!(
            replica_step(true, 0, Some("1"), Some(&hpa)),
            ReplicaStep::ScaleUp { to: 2 }
        );
        assert_eq!(
            replica_step(true, 0, Some("9"), Some(&hpa)),
            ReplicaStep::ScaleUp { to: 5 }
        );
        assert!(matches!(
            replica_step(true, 0, None, None),
            ReplicaStep::Skip(r) if r.contains("not scaled down by caretaker")
        ));
        assert!(matches!(
            replica_step(true, 0, Some("0"), None),
            ReplicaStep::Skip(r) if r.contains("not a replica count")
        ));
        assert!(matches!(
            replica_step(true, 0, Some("three"), None),
            ReplicaStep::Skip(_)
        ));
        assert_eq!(replica_step(true, 2, Some("3"), None), ReplicaStep::Forget);
        assert_eq!(replica_step(true, 2, None, None), ReplicaStep::Nothing);
        assert_eq!(
            replica_step(false, 4, Some("3"), None),
            ReplicaStep::ScaleDown { remember: 3 },
            "scaled up by hand at night: back to 0, and the day's 3 is what the morning restores"
        );
        assert_eq!(
            replica_step(false, 4, Some("zero"), None),
            ReplicaStep::ScaleDown { remember: 4 },
            "an unreadable annotation is replaced by the running count"
        );
    }

    #[test]
    fn cron_jobs_suspended_by_someone_else_stay_suspended() {
        assert_eq!(suspend_step(false, false, false), SuspendStep::Suspend);
        assert_eq!(suspend_step(false, true, true), SuspendStep::Nothing);
        assert_eq!(suspend_step(false, true, false), SuspendStep::Nothing);
        assert_eq!(suspend_step(true, true, true), SuspendStep::Resume);
        assert!(matches!(
            suspend_step(true, true, false),
            SuspendStep::Skip(_)
        ));
        assert_eq!(suspend_step(true, false, false), SuspendStep::Nothing);
        assert_eq!(suspend_step(true, false, true), SuspendStep::Forget);
    }
}
