//! One account's run (memory read, each layer in its order, what it has to tell, memory and
//! ledger written) and which accounts a run covers.

use caretaker_shared::error::ErrorKind;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::{Guard, error::chain};
use chrono::Utc;

use super::{Layer, Told, memory};
use crate::Deps;
use crate::FUNCTION;
use crate::domain::{self, Action, BudgetHold, Decider, Memory};
use crate::event::Request;
use crate::ready::{self, Readiness};

/// The accounts of a run, as `accounts` reports them (used by the fan-out).
pub(crate) async fn accounts_for(
    deps: &Deps,
    now: chrono::DateTime<Utc>,
    report: &mut RunReport,
) -> Vec<(String, bool)> {
    accounts_of_run(deps, now, report).await.1
}

/// The accounts this run acts in (listed, plus the configured OUs' active ones, minus the
/// excluded), and the guard that allows exactly them. An OU listing that fails is reported and
/// the run goes on with the listed accounts and the last listing it has.
pub(super) async fn accounts_of_run(
    deps: &Deps,
    now: chrono::DateTime<Utc>,
    report: &mut RunReport,
) -> (Guard, Vec<(String, bool)>) {
    let common = &deps.config.common;
    let found = match crate::handler::organization::found(deps, now).await {
        Ok(f) => f,
        Err((e, last)) => {
            report.record(
                "organization",
                &deps.config.org.ous.join(","),
                Outcome::failed(e),
            );
            last
        }
    };
    let listed = if common.allowed_accounts.is_empty() && deps.config.org.ous.is_empty() {
        std::collections::BTreeSet::from([deps.accounts.home_account().to_owned()])
    } else {
        common.allowed_accounts.clone()
    };
    let accounts = crate::accounts::effective(&listed, &found, &deps.config.excluded_accounts);
    let allowed = caretaker_shared::config::Common {
        allowed_accounts: accounts.iter().map(|(a, _)| a.clone()).collect(),
        ..common.clone()
    };
    (
        Guard::new(&allowed, Some(deps.accounts.home_account())),
        accounts,
    )
}

/// One account's run, in its own report.
pub(super) async fn run_account(
    deps: &Deps,
    req: &Request,
    guard: &Guard,
    account: &str,
    from_ou: bool,
    now: chrono::DateTime<Utc>,
    dry_run: bool,
) -> (RunReport, Told) {
    let mut report = RunReport::new(FUNCTION, req.action.as_str(), dry_run);
    let mut told = Told::default();
    let account = account.to_owned();
    if let Err(refusal) = guard.check_account(&account) {
        report.record(
            "account",
            &account,
            Outcome::skipped(format!("refused: {refusal}")),
        );
        return (report, told);
    }
    let first = report.resources.len();
    // The memory is read even for a dry run (it decides holds and drift) but written only
    // after a real one, and never over a memory that could not be read. It lives in this
    // account's table, so it is read even when the account cannot be reached.
    let memory = match &deps.state {
        None => Ok(Memory::default()),
        Some(state) => state.load(&account).await,
    };
    let readable = memory.is_ok();
    let memory = memory.unwrap_or_else(|e| {
        report.record(
            "scheduler-state",
            &account,
            Outcome::failed(format!(
                "memory unreadable, run without it (drift may read as routine): {e}"
            )),
        );
        Memory::default()
    });
    let remembered = memory.failures.clone();
    // budget-guard's request: dev is held down from now until the period ends.
    let memory = match &req.budget_reason {
        Some(reason) => Memory {
            budget_hold: Some(BudgetHold {
                at: now,
                until: domain::budget_period_end(now),
                reason: reason.clone(),
                ignored_keep_up: Default::default(),
                recording: true,
            }),
            ..memory
        },
        None => memory,
    };
    let cfg = match deps.accounts.config_for(&account).await {
        Ok(c) => c,
        // An account that joined an OU before its spoke was deployed: news, said once, not a
        // failure every run. (A listed account without its spoke stays a failure.)
        Err(e)
            if from_ou
                && caretaker_shared::error::Classify::kind(&e) == ErrorKind::AccessDenied =>
        {
            let key = format!("account {account}");
            report.record(
                "account",
                &account,
                Outcome::skipped(format!(
                    "joined {} but has no spoke role to assume yet: deploy deploy/spoke.yaml there (the README's StackSets recipe does it for every account of the OU)",
                    deps.config.org.ous.join(", ")
                )),
            );
            if !remembered.contains_key(&key) && !dry_run && readable {
                told.joined.push(account.clone());
                let mut failures = remembered.clone();
                failures.insert(
                    key,
                    caretaker_shared::once::Failing {
                        cause: "no spoke role to assume".into(),
                        since: now,
                        told: now,
                    },
                );
                let kept = Memory { failures, ..memory };
                memory::save(deps, &account, &kept, &mut report).await;
            }
            return (report, told);
        }
        Err(e) => {
            report.record("account", &account, Outcome::failed(chain(&e)));
            let said = memory::say_once(&mut report, first, &account, false, now, &remembered);
            if !dry_run && readable && said.changed(&remembered) {
                let kept = Memory {
                    failures: said.memory,
                    ..memory
                };
                memory::save(deps, &account, &kept, &mut report).await;
            }
            told.cleared.extend(said.cleared);
            return (report, told);
        }
    };
    let layer = Layer {
        deps,
        cfg: &cfg,
        rds: aws_sdk_rds::Client::new(&cfg),
        eks: aws_sdk_eks::Client::new(&cfg),
        decider: Decider {
            policy: deps.config.policy.clone(),
            guard: guard.clone(),
            account: account.clone(),
            action: req.action,
            now,
            last_run: match &deps.state {
                Some(_) => memory.last_run,
                None => Some(now - deps.config.interval),
            },
            memory,
            seen: Default::default(),
        },
        dry_run,
    };
    let clusters = layer.clusters(&mut report).await;
    let r = &mut report;
    // Bringing things up: databases → node groups → workloads, each workload waiting for
    // what its namespace declares it needs; taking them down: the reverse.
    let mut ready = Readiness::default();
    let morning_order = domain::morning(
        &deps.config.policy,
        req.action,
        now,
        layer.decider.memory.hold,
    );
    if morning_order {
        layer.databases(r, &mut ready).await;
        layer.nodegroups(&clusters, r, &mut ready).await;
        layer.kubernetes(&clusters, r, Some(&ready)).await;
    } else {
        layer.kubernetes(&clusters, r, None).await;
        layer.nodegroups(&clusters, r, &mut ready).await;
        layer.databases(r, &mut ready).await;
    }
    let said = memory::say_once(r, first, &account, true, now, &remembered);
    // Is dev ready, once this morning's starts are made? Said once a morning.
    let previous = layer.decider.memory.morning.clone();
    let (morning, news) = match dry_run {
        true => (previous, None),
        false => ready::morning_after(
            previous.as_ref(),
            now,
            deps.config.policy.warm_up,
            morning_order,
            &ready.progress(&r.resources[first..]),
        ),
    };
    if !dry_run && readable {
        layer.remember(req.action, &said, morning, r).await;
    }
    if !dry_run {
        layer.record_savings(first, &clusters, r).await;
    }
    if req.action == Action::Status {
        layer.savings_status(&clusters, r).await;
    }
    told.cleared.extend(said.cleared);
    told.mornings.extend(news.map(|n| (account.clone(), n)));
    (report, told)
}
