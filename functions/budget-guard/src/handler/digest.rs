//! The daily digest: every budget across accounts and this month's top cost drivers.

use aws_sdk_costexplorer::types::{GroupDefinition, GroupDefinitionType};
use caretaker_shared::report::{Outcome, RunReport};
use chrono::{DateTime, Datelike, Utc};

use super::{read_budgets, sent, watched};
use crate::domain::{self, ExistingBudget};
use crate::messages::{self, DigestAccount};
use crate::{Deps, FUNCTION, aws};

/// The daily digest: every budget across accounts, and this month's top cost drivers. The
/// scheduled run sends it once a day (`once_a_day`); asked for by hand, it is always sent.
pub async fn digest(deps: &Deps, now: DateTime<Utc>, dry_run: bool, once_a_day: bool) -> RunReport {
    let mut report = RunReport::new(FUNCTION, "digest", dry_run);
    let today = now.date_naive();
    let day_key = domain::digest_key(today);
    if once_a_day && !dry_run {
        let claimed = deps.ledger.claim(&day_key, "digest", now).await;
        let outcome = match claimed {
            Ok(true) => None,
            Ok(false) => Some(Outcome::Unchanged),
            Err(e) => Some(Outcome::failed(e.to_string())),
        };
        if let Some(o) = outcome {
            report.record("digest", &today.to_string(), o);
            return report.finish();
        }
    }
    // One read of the management account's budgets, grouped by the account each watches, in a
    // stable order.
    let reads: Vec<(String, Result<Vec<ExistingBudget>, String>)> = match read_budgets(deps).await {
        Ok(all) => {
            let mut by: std::collections::BTreeMap<String, Vec<ExistingBudget>> =
                std::collections::BTreeMap::new();
            for b in all {
                by.entry(watched(deps, &b).to_owned()).or_default().push(b);
            }
            by.into_iter().map(|(a, b)| (a, Ok(b))).collect()
        }
        Err(e) => vec![(deps.accounts.home_account().to_owned(), Err(e))],
    };
    let mut parts = Vec::with_capacity(reads.len());
    for (account, got) in &reads {
        match got {
            Ok(budgets) => {
                for b in budgets {
                    report
                        .record("budget", &b.name, Outcome::Unchanged)
                        .in_account(account)
                        .detail(
                            "percentOfLimit",
                            domain::percent(b.actual, b.limit).to_string(),
                        );
                }
                parts.push(DigestAccount::Read(account, budgets));
            }
            Err(e) => {
                report.record("account", account, Outcome::failed(e.clone()));
                parts.push(DigestAccount::Unreadable(account, e));
            }
        }
    }
    let start = format!("{:04}-{:02}-01", today.year(), today.month());
    let end = (today + chrono::Duration::days(1)).to_string();
    let mut costs = Vec::new();
    for (label, kind, key) in [
        ("Top services", GroupDefinitionType::Dimension, "SERVICE"),
        ("By env", GroupDefinitionType::Tag, "env"),
        ("By cost_center", GroupDefinitionType::Tag, "cost_center"),
    ] {
        let group = GroupDefinition::builder().r#type(kind).key(key).build();
        let got = aws::top_costs(&deps.ce, &start, &end, group).await;
        costs.push((label, got.map_err(|e| e.to_string())));
    }
    // What the dev nights saved, per dev account, as dev-scheduler last recorded it this month.
    let mut nights = Vec::new();
    if let Some(table) = &deps.config.scheduler_table {
        for account in &deps.config.common.allowed_accounts {
            match aws::savings_summary(&deps.ledger.client, table, account).await {
                Ok(Some(s)) if s.month == format!("{:04}-{:02}", today.year(), today.month()) => {
                    nights.push((account.clone(), Ok(s.line())));
                }
                Ok(_) => {}
                Err(e) => nights.push((account.clone(), Err(e))),
            }
        }
    }
    let note = messages::digest(today, &parts, &costs, &nights);
    if dry_run {
        report.record(
            "digest",
            &today.to_string(),
            Outcome::changed("send digest"),
        );
    } else {
        let delivery = deps.notifiers.send(&note).await;
        if once_a_day && delivery.nobody_got_it() {
            let _ = deps.ledger.release(&day_key).await;
        }
        report.record("digest", &today.to_string(), sent(&delivery));
    }
    report.finish()
}
