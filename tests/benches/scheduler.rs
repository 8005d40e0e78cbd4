//! dev-scheduler benchmark: shutdown, a second shutdown (nothing to do) and startup of an estate
//! of N Kubernetes workloads (80 % Deployments, 10 % StatefulSets, 10 % CronJobs, 50 a namespace)
//! with N/100 node groups and N/100 databases (at least 1 each), against the local stack and the
//! Kubernetes API stand-in (both in this process's machine). Prints wall time, Kubernetes API
//! requests (lists and patches), AWS requests (moto's access log) and peak memory; asserts only
//! correctness, never time.
//! Run: `make bench-scheduler`.
#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub, dead_code)]

#[path = "../integration/support.rs"]
mod support;

#[allow(unused_imports)]
#[path = "../integration/scheduler.rs"]
mod scheduler;

use std::time::Instant;

use dev_scheduler::domain::Action;
use scheduler::{DEV, Fx, MORNING, NIGHT};

async fn estate(n: usize, concurrency: &str) -> Fx {
    let fx = Fx::with("", &[("KUBE_CONCURRENCY", concurrency)]).await;
    let groups = (n / 100).max(1);
    let ngs: Vec<String> = (0..groups).map(|i| format!("ng-{i}")).collect();
    let ng_specs: Vec<scheduler::NodeGroup> =
        ngs.iter().map(|g| (g.as_str(), 1, 3, 2, DEV)).collect();
    fx.cluster("innovate-dev", &[("env", "dev")], &ng_specs)
        .await;
    for i in 0..groups {
        fx.db(&format!("db-{i}"), DEV).await;
    }
    let opt_in = [("caretaker/schedule", "office-hours")];
    for i in 0..n {
        let ns = format!("team-{}", i / 50);
        if i % 50 == 0 {
            fx.kube.namespace(&ns, &opt_in, &[]);
        }
        let name = format!("w-{i}");
        match i % 10 {
            0 => fx.kube.statefulset(&ns, &name, 1, &[]),
            1 => fx.kube.cronjob(&ns, &name, false, &[]),
            _ => fx.kube.deployment(&ns, &name, 1 + (i % 3) as i32, &[], &[]),
        }
    }
    fx
}

#[tokio::main]
async fn main() {
    println!(
        "dev-scheduler benchmark (debug build unless run with --release; local moto + Kubernetes stand-in)"
    );
    println!(
        "  {:>9} {:>5} {:>5} {:>11}  {:>17}  {:>9}  {:>9}  {:>9}",
        "workloads", "NGs", "DBs", "concurrency", "run", "wall ms", "k8s GET", "k8s PATCH"
    );
    let cases = [
        (10, "8"),
        (100, "8"),
        (1000, "1"),
        (1000, "8"),
        (1000, "32"),
    ];
    for (n, concurrency) in cases {
        let fx = estate(n, concurrency).await;
        let groups = (n / 100).max(1);
        for (label, action, at) in [
            ("shutdown", Action::Shutdown, NIGHT),
            ("shutdown again", Action::Shutdown, NIGHT),
            ("startup", Action::Startup, MORNING),
        ] {
            fx.kube.reset_requests();
            let aws_before = support::moto_requests();
            let t = Instant::now();
            let r = fx.act(action, at, false).await;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let aws = support::moto_requests() - aws_before;
            let reqs = fx.kube.requests();
            let patches = reqs.iter().filter(|q| q.starts_with("PATCH")).count();
            assert_eq!(r.totals.failed, 0, "{r:#?}");
            let expected = if label == "shutdown again" {
                0
            } else {
                n + 2 * groups
            };
            assert_eq!(r.totals.changed, expected, "{label}");
            println!(
                "  {:>9} {:>5} {:>5} {:>11}  {:>17}  {:>9.0}  {:>9}  {:>9}   AWS requests {aws}",
                n,
                groups,
                groups,
                concurrency,
                label,
                ms,
                reqs.len() - patches,
                patches
            );
        }
    }
    println!(
        "  peak RSS of the whole process (scheduler + stand-in + SDK clients): {:.1} MiB",
        support::vm_hwm_mib()
    );
}
