//! restore-tester verification benchmark: the configured checks over databases of growing size,
//! against the local PostgreSQL 15 (TLS). Prints time per check and the process's peak memory;
//! asserts nothing about time. Run: `tools/stack.py run -- cargo bench -p caretaker-tests --bench restore_verify`.
#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub, dead_code)]

#[path = "../integration/support.rs"]
mod support;

use std::time::{Duration, Instant};

use caretaker_shared::pg::{Connector, Target};
use chrono::Utc;
use restore_tester::checks;

#[tokio::main]
async fn main() {
    let ca = std::fs::read_to_string(support::stack_var("CARETAKER_PG_CA")).unwrap();
    let connector = Connector::new(&ca, Duration::from_secs(5), Duration::from_secs(600)).unwrap();
    let target = |db: &str| Target {
        host: "localhost".into(),
        port: support::stack_var("CARETAKER_PG_PORT").parse().unwrap(),
        user: support::stack_var("CARETAKER_PG_SUPERUSER"),
        password: support::stack_var("CARETAKER_PG_SUPERUSER_PASSWORD").into(),
        dbname: db.into(),
        tls: true,
        tls_server_name: None,
    };
    let checks = checks::parse(
        r#"[{"kind": "table_exists", "name": "table exists", "table": "public.orders"},
            {"kind": "min_rows", "name": "min rows (count(*))", "table": "orders", "min": 1},
            {"kind": "freshness", "name": "freshness (max(updated_at))", "query": "SELECT max(updated_at) FROM orders"},
            {"kind": "true", "name": "custom (no orphan orders)", "query": "SELECT bool_and(customer_id > 0) FROM orders"}]"#,
    )
    .unwrap();
    println!(
        "restore-tester verification benchmark (local PostgreSQL 15 over TLS; no index on updated_at)"
    );
    println!(
        "  {:>10}  {:>9}  {:>12}  {:>12}  {:>12}  {:>12}  {:>9}",
        "rows", "load", "exists", "count(*)", "max(upd.)", "custom", "total"
    );
    let admin = connector.connect(&target("postgres")).await.unwrap();
    for rows in [10_000u64, 100_000, 1_000_000] {
        let db = format!("bench_{rows}");
        admin
            .client()
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        admin
            .client()
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let s = connector.connect(&target(&db)).await.unwrap();
        let t = Instant::now();
        s.client()
            .batch_execute(&format!(
                "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, total_cents int, status text,
                                      updated_at timestamptz NOT NULL);
                 INSERT INTO orders (customer_id, total_cents, status, updated_at)
                   SELECT 1 + g % 5000, g % 20000, 'paid', now() - (g || ' seconds')::interval FROM generate_series(1, {rows}) g;
                 ANALYZE orders;"
            ))
            .await
            .unwrap();
        let load = t.elapsed();
        let total = Instant::now();
        let mut cells = Vec::new();
        for c in &checks {
            let r = checks::run(&s, c, Utc::now(), 1440).await;
            assert!(r.passed, "{r:?}");
            cells.push(format!("{:>9.1} ms", r.duration_ms as f64));
        }
        println!(
            "  {rows:>10}  {:>7.1} s  {}  {:>6.0} ms",
            load.as_secs_f64(),
            cells.join("  "),
            total.elapsed().as_secs_f64() * 1000.0
        );
        drop(s);
        admin
            .client()
            .batch_execute(&format!("DROP DATABASE {db}"))
            .await
            .unwrap();
    }
    println!(
        "  peak memory of the verifying process (VmHWM): {:.1} MiB (rows stay in the server; only one row per check comes back)",
        support::vm_hwm_mib()
    );
}
