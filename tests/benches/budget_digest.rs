//! budget-guard benchmark: the digest across N accounts (2 budgets each), against the local
//! stack. Prints wall time, the AWS requests the emulator served (counted from its access log)
//! and peak memory; asserts nothing about time.
//! Run: `tools/stack.py run -- cargo bench -p caretaker-tests --bench budget_digest`.
#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub, dead_code)]

#[path = "../integration/support.rs"]
mod support;

use std::time::Instant;

use aws_sdk_budgets::types::{Budget, BudgetType, CalculatedSpend, Spend, TimeUnit};
use budget_guard::event::Command;
use budget_guard::handler::run;
use budget_guard::{Deps, GuardConfig};
use caretaker_shared::notify::{Notifiers, SnsSink};
use serde_json::json;

#[tokio::main]
async fn main() {
    println!(
        "budget-guard digest benchmark (local moto; 2 budgets per account; cross-account by role assumption)"
    );
    println!(
        "  {:>8}  {:>8}  {:>12}  {:>14}  {:>16}",
        "accounts", "budgets", "wall time", "AWS requests", "requests/account"
    );
    for n in [1usize, 10, 100] {
        let home_account = support::fresh_account();
        let home = support::config_in(&home_account).await;
        let mut desired = Vec::new();
        for i in 0..n {
            let account = support::fresh_account();
            let c = aws_sdk_budgets::Client::new(&support::config_in(&account).await);
            for (env, limit, actual) in [("dev", "400", "251.35"), ("prod", "2000", "1104.80")] {
                let name = format!("innovate-{env}-{i}");
                let spend = |a: &str| Spend::builder().amount(a).unit("USD").build().unwrap();
                let b = Budget::builder()
                    .budget_name(&name)
                    .budget_limit(spend(limit))
                    .time_unit(TimeUnit::Monthly)
                    .budget_type(BudgetType::Cost)
                    .calculated_spend(
                        CalculatedSpend::builder()
                            .actual_spend(spend(actual))
                            .forecasted_spend(spend("500"))
                            .build(),
                    )
                    .build()
                    .unwrap();
                c.create_budget()
                    .account_id(&account)
                    .budget(b)
                    .send()
                    .await
                    .unwrap();
                desired.push(json!({"account": account, "env": env, "name": name, "limit": limit, "tags": {"env": env}}));
            }
        }
        support::ledger_table(&home, "ledger").await;
        let (sns, topic, _) = support::alert_topic(&home).await;
        let budgets = serde_json::Value::Array(desired).to_string();
        let accounts: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&budgets)
            .unwrap()
            .iter()
            .map(|b| b["account"].as_str().unwrap().to_owned())
            .collect();
        let allowed = accounts.join(",");
        let vars: Vec<(&str, &str)> = vec![
            ("BUDGETS", &budgets),
            ("STATE_TABLE", "ledger"),
            ("ALLOWED_ACCOUNTS", &allowed),
            ("TARGET_ROLE_NAME", "caretaker-spoke"),
        ];
        let config = GuardConfig::from_env(&vars.as_slice()).unwrap();
        let deps = Deps::new(
            home.clone(),
            home_account,
            config,
            Notifiers::new(vec![Box::new(SnsSink::new(sns, &topic))]),
        );
        let before = support::moto_requests();
        let t = Instant::now();
        let r = run(
            &deps,
            Command::Digest {
                dry_run: false,
                at: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let elapsed = t.elapsed();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let calls = support::moto_requests() - before;
        assert_eq!(r.totals.failed, 0, "{r:?}");
        println!(
            "  {n:>8}  {:>8}  {:>9.0} ms  {calls:>14}  {:>16.1}",
            n * 2,
            elapsed.as_secs_f64() * 1000.0,
            calls as f64 / n as f64
        );
    }
    println!(
        "  peak memory of the benchmark process (VmHWM): {:.1} MiB",
        support::vm_hwm_mib()
    );
}
