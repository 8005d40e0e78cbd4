//! dev-scheduler at organization scale: one periodic run over N dev accounts (default 200,
//! `CARETAKER_BENCH_ACCOUNTS`) found in an AWS Organizations OU, 25 resources each (22 RDS
//! instances, an EKS cluster with 2 node groups), the Kubernetes stand-in's 10 workloads behind
//! every cluster, and 50 ms added to every AWS call by a proxy in front of moto. Prints, for the
//! run that stops everything and for the quiet run after it: wall time, the bench process's peak
//! memory, AWS calls in all and per account, and the calls per account besides the list/describe
//! calls. Asserts only correctness, never time. Run: `make bench-scale`.
#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub, dead_code)]

#[path = "../integration/support.rs"]
mod support;

#[allow(unused_imports)]
#[path = "../integration/scheduler.rs"]
mod scheduler;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dev_scheduler::domain::Action;
use futures::StreamExt;
use scheduler::{Fx, NIGHT};
use support::*;

const DBS: usize = 22;
const NODE_GROUPS: usize = 2;

async fn estate_of(account: String) {
    let cfg = config_in(&account).await;
    let tags = [("env", "dev"), ("caretaker/schedule", "office-hours")];
    for i in 0..DBS {
        rds_instance(&cfg, &format!("db-{i}"), &tags).await;
    }
    eks_cluster(&cfg, &account, "dev", &[("env", "dev")]).await;
    for g in 0..NODE_GROUPS {
        t3_small_nodegroup(&cfg, &account, "dev", &format!("ng-{g}"), (1, 3, 2), &tags).await;
    }
}

fn is_read(action: &str) -> bool {
    let op = action.rsplit(' ').next().unwrap_or(action);
    op.starts_with("List") || op.starts_with("Describe") || action.starts_with("GET ")
}

fn line(label: &str, took: Duration, hwm: f64, counts: &HashMap<String, usize>, accounts: usize) {
    let total: usize = counts.values().sum();
    let org: usize = counts
        .iter()
        .filter(|(k, _)| k.contains("ForParent"))
        .map(|(_, v)| v)
        .sum();
    let besides_reads: usize = counts
        .iter()
        .filter(|(k, _)| !is_read(k) && !k.contains("ForParent"))
        .map(|(_, v)| v)
        .sum();
    println!(
        "  {label:<26} {:>7.1} s  {:>7.0} MiB  {:>7} calls  {:>6.1} per account  {:>5.2} per account besides list/describe  ({org} Organizations calls)",
        took.as_secs_f64(),
        hwm,
        total,
        (total - org) as f64 / accounts as f64,
        besides_reads as f64 / accounts as f64,
    );
}

#[tokio::main]
async fn main() {
    let accounts: usize = std::env::var("CARETAKER_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let delay = Duration::from_millis(50);
    println!(
        "dev-scheduler at scale: {accounts} dev accounts found in an OU, {} resources each, +{} ms on every AWS call",
        DBS + 1 + NODE_GROUPS,
        delay.as_millis()
    );
    let proxy = InFlight::start(delay).await;
    let home = fresh_account();
    let (org, root) = organization(&config_in(&home).await).await;
    let ou = organizational_unit(&org, &root, "dev").await;
    let setup = Instant::now();
    let mut ids = Vec::new();
    for i in 0..accounts {
        let id = org
            .create_account()
            .account_name(format!("dev-{i}"))
            .email(format!("dev-{i}@example.com"))
            .send()
            .await
            .unwrap()
            .create_account_status
            .unwrap()
            .account_id
            .unwrap();
        org.move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(&ou)
            .send()
            .await
            .unwrap();
        ids.push(id);
    }
    futures::stream::iter(ids.clone())
        .map(estate_of)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let vars = [
        ("ALLOWED_ACCOUNTS", ""),
        ("DEV_ACCOUNTS_OU", ou.as_str()),
        ("ACCOUNT_TIMEOUT_SECONDS", "300"),
    ];
    let fx = Fx::through_home(&home, "", &vars, Some(&proxy.url)).await;
    let opt_in = [("caretaker/schedule", "office-hours")];
    fx.kube.namespace("app", &opt_in, &[]);
    for i in 0..10 {
        fx.kube.deployment("app", &format!("w-{i}"), 2, &[], &[]);
    }
    println!(
        "  set-up: {} resources in {:.0} s (not measured below)",
        accounts * (DBS + 1 + NODE_GROUPS),
        setup.elapsed().as_secs_f64()
    );
    proxy.take_counts();
    let before = vm_hwm_mib();
    println!("  bench process before the runs: {before:.0} MiB peak");

    let t = Instant::now();
    let stop = fx.act(Action::Reconcile, NIGHT, false).await;
    let took = t.elapsed();
    line(
        "stopping run",
        took,
        vm_hwm_mib(),
        &proxy.take_counts(),
        accounts,
    );
    assert_eq!(stop.totals.failed, 0, "{}", stop.summary);
    let expected = accounts * (DBS + NODE_GROUPS);
    assert!(
        stop.totals.changed >= expected,
        "{} changed, expected at least {expected}",
        stop.totals.changed
    );
    println!(
        "    report: {} entries for {} resources ({})",
        stop.resources.len(),
        stop.totals.changed + stop.totals.unchanged + stop.totals.skipped,
        stop.summary
    );

    let t = Instant::now();
    let quiet = fx
        .act(Action::Reconcile, "2026-11-30T21:15:00Z", false)
        .await;
    let took = t.elapsed();
    let counts = proxy.take_counts();
    line("quiet run after it", took, vm_hwm_mib(), &counts, accounts);
    assert_eq!(quiet.totals.changed, 0, "{}", quiet.summary);
    let mut by: Vec<_> = counts.into_iter().collect();
    by.sort_by_key(|b| std::cmp::Reverse(b.1));
    println!(
        "    quiet run's calls: {}",
        by.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
