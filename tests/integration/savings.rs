//! dev-scheduler's savings ledger: AWS's prices through the Price List API (the local stack's
//! fixture endpoint answers `GetProducts` with the recorded shape, tests/fixtures/pricing), a
//! week of the seed's dev estate against a hand computation, Multi-AZ and Aurora members, the
//! nights' real transitions counted and a database stopped by hand not, the price cache (hit,
//! refresh, API down) and an unknown price.

use std::collections::BTreeSet;

use caretaker_shared::report::Outcome;
use chrono::{DateTime, Duration, Utc};
use dev_scheduler::domain::Action;
use dev_scheduler::handler::savings::price_book;
use dev_scheduler::ledger::{Event, Ledger, Sizing, savings};
use dev_scheduler::prices::PriceKey;
use rust_decimal::Decimal;

use crate::scheduler::{Fx, MORNING, NIGHT, STATE_TABLE};
use crate::support::*;

const R: &str = "us-east-1";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The seed's dev estate, as the scheduler records it when it takes it down.
fn estate() -> Vec<(&'static str, Sizing)> {
    vec![
        (
            "rds-instance/innovate-dev-db",
            Sizing::Instance {
                class: "db.t4g.small".into(),
                engine: "postgres".into(),
                multi_az: false,
                region: R.into(),
            },
        ),
        (
            "eks-nodegroup/innovate-dev/addons",
            Sizing::Nodes {
                instance_type: "t3.small".into(),
                count: 2,
                region: R.into(),
            },
        ),
        (
            // 0.5 vCPU / 1 GB requested: with Fargate's 256 MB, billed as 0.5 vCPU / 2 GB.
            "k8s-deployment/innovate-dev/innovate/backend",
            Sizing::Fargate {
                pods: 2,
                vcpu: dec("0.5"),
                gb: dec("2"),
                region: R.into(),
            },
        ),
        (
            // 0.25 vCPU / 0.5 GB requested: billed as 0.25 vCPU / 1 GB.
            "k8s-deployment/innovate-dev/innovate/frontend",
            Sizing::Fargate {
                pods: 2,
                vcpu: dec("0.25"),
                gb: dec("1"),
                region: R.into(),
            },
        ),
    ]
}

/// Every key the estate is priced by.
fn keys(sizings: &[Sizing]) -> BTreeSet<PriceKey> {
    sizings
        .iter()
        .flat_map(|s| s.rates().into_iter().map(|(k, _)| k))
        .collect()
}

/// GetProducts calls the fixture endpoint saw from this access key.
fn pricing_calls(access_key: &str) -> usize {
    let log = std::path::Path::new(&stack_var("CARETAKER_STACK_DIR")).join("pricing.jsonl");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(access_key))
        .count()
}

async fn access_key(fx: &Fx) -> String {
    use aws_credential_types::provider::ProvideCredentials;
    fx.home
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_owned()
}

#[tokio::test]
async fn a_week_of_the_seed_dev_estate_is_priced_as_computed_by_hand() {
    let fx = Fx::new("").await;
    // Office hours Mon-Fri 07:00-20:00 in New York (EST, UTC-5): down 20:00-07:00 on four
    // nights and from Friday 20:00 to Monday 07:00, from Monday 7 December 07:00.
    let mut transitions: Vec<(String, bool)> = Vec::new();
    for day in 8..=12 {
        transitions.push((format!("2026-12-{day:02}T01:00:00Z"), true)); // 20:00 NY, the day before
    }
    for day in [8, 9, 10, 11, 14] {
        transitions.push((format!("2026-12-{day:02}T12:00:00Z"), false)); // 07:00 NY
    }
    transitions.sort();
    // The nights: Mon→Tue, Tue→Wed, Wed→Thu, Thu→Fri (11 h each), the weekend (59 h): 103 h.
    let mut ledger = Ledger::new("2026-12");
    for (at, down) in &transitions {
        for (resource, sizing) in estate() {
            let e = if *down {
                Event::Down {
                    resource: resource.into(),
                    sizing,
                }
            } else {
                Event::Up {
                    resource: resource.into(),
                }
            };
            ledger.apply(&e, t(at));
        }
    }
    let now = t("2026-12-14T13:00:00Z");
    let sizings: Vec<Sizing> = estate().into_iter().map(|(_, s)| s).collect();
    let book = price_book(&fx.deps, keys(&sizings), now).await;
    assert!(book.notes.is_empty(), "{:?}", book.notes);
    let s = savings(&ledger, now, |k| book.prices.get(&k.id()));

    // By hand, from the Price List's us-east-1 on-demand prices:
    //   db.t4g.small PostgreSQL Single-AZ $0.032/h       × 103 h        = $3.296   → $3.30
    //   t3.small Linux $0.0208/h × 2 nodes                × 103 h        = $4.2848  → $4.28
    //   backend: 2 pods × (0.5 vCPU × $0.04048 + 2 GB × $0.004445) × 103 = $6.00078 → $6.00
    //   frontend: 2 pods × (0.25 vCPU × $0.04048 + 1 GB × $0.004445) × 103 = $3.00039 → $3.00
    let by_hand = [
        ("rds-instance/innovate-dev-db", "3.30"),
        ("eks-nodegroup/innovate-dev/addons", "4.28"),
        ("k8s-deployment/innovate-dev/innovate/backend", "6.00"),
        ("k8s-deployment/innovate-dev/innovate/frontend", "3.00"),
    ];
    for (resource, usd) in by_hand {
        let line = s.resources.iter().find(|l| l.resource == resource).unwrap();
        assert_eq!(line.hours_down, dec("103"), "{resource}");
        assert_eq!(line.saved_usd, Some(dec(usd)), "{resource}");
    }
    assert_eq!(s.month_usd, dec("16.58"));
    assert!(s.unknown.is_empty());
}

#[tokio::test]
async fn multi_az_bills_twice_and_an_aurora_cluster_each_member() {
    let fx = Fx::new("").await;
    let multi = Sizing::Instance {
        class: "db.t4g.small".into(),
        engine: "postgres".into(),
        multi_az: true,
        region: R.into(),
    };
    let aurora = Sizing::Aurora {
        engine: "aurora-postgresql".into(),
        members: vec!["db.r6g.large".into(); 3],
        region: R.into(),
    };
    let now = Utc::now();
    let book = price_book(&fx.deps, keys(&[multi.clone(), aurora.clone()]), now).await;
    let price = |k: &PriceKey| book.prices.get(&k.id());
    assert_eq!(multi.hourly(price).unwrap(), dec("0.064"), "2 × $0.032");
    assert_eq!(aurora.hourly(price).unwrap(), dec("0.78"), "3 × $0.26");
}

#[tokio::test]
async fn the_nights_transitions_are_counted_and_a_database_stopped_by_hand_is_not() {
    let fx = Fx::new("").await;
    let opted = [("env", "dev"), ("caretaker/schedule", "office-hours")];
    fx.db("innovate-dev-db", &opted).await;
    fx.db("stopped-by-hand", &opted).await;
    fx.rds()
        .stop_db_instance()
        .db_instance_identifier("stopped-by-hand")
        .send()
        .await
        .unwrap();
    eks_cluster(&fx.cfg, &fx.dev, "innovate-dev", &[("env", "dev")]).await;
    t3_small_nodegroup(
        &fx.cfg,
        &fx.dev,
        "innovate-dev",
        "addons",
        (2, 3, 2),
        &[("env", "dev"), ("caretaker/schedule", "office-hours")],
    )
    .await;

    // Monday 30 November 21:00 UTC: down; Tuesday 1 December 08:00: up (across the month's end).
    let night = fx.act(Action::Reconcile, NIGHT, false).await;
    assert_eq!(night.totals.failed, 0, "{:?}", night.resources);
    let morning = fx.act(Action::Reconcile, MORNING, false).await;
    assert_eq!(morning.totals.failed, 0, "{:?}", morning.resources);
    let status = fx.act(Action::Status, "2026-12-01T09:00:00Z", false).await;
    let entry = status
        .resources
        .iter()
        .find(|r| r.kind == "savings")
        .unwrap_or_else(|| panic!("{:?}", status.resources));
    assert_eq!(entry.outcome, Outcome::Unchanged);
    let s = &entry.details["savings"];
    let lines = s["resources"].as_array().unwrap();
    let line = |id: &str| lines.iter().find(|l| l["resource"] == id);
    // 00:00-08:00 of 1 December (the November part is November's): 8 h.
    let db = line("rds-instance/innovate-dev-db").unwrap();
    assert_eq!(db["hoursDown"], "8");
    assert_eq!(db["savedUsd"], "0.26", "8 h × $0.032 = $0.256");
    let nodes = line("eks-nodegroup/innovate-dev/addons").unwrap();
    assert_eq!(nodes["savedUsd"], "0.33", "8 h × 2 × $0.0208 = $0.3328");
    assert!(
        line("rds-instance/stopped-by-hand").is_none(),
        "stopped by a person, not by Caretaker: {lines:?}"
    );
    assert_eq!(s["monthUsd"], "0.59");
    // What bills while dev is off: the EKS control plane, $0.10 an hour.
    let billing = &entry.details["stillBilling"];
    let items = billing["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["what"] == "EKS control plane innovate-dev" && i["perDayUsd"] == "2.40"),
        "{billing}"
    );
    assert_eq!(entry.details["priceDate"], "2026-11-01");

    // November keeps its part: 21:00-24:00, 3 h.
    let doc = aws_sdk_dynamodb::Client::new(&fx.home)
        .get_item()
        .table_name(STATE_TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "dev-scheduler#ledger#{}#2026-11",
                fx.dev
            )),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let nov: Ledger = serde_json::from_str(doc["doc"].as_s().unwrap()).unwrap();
    assert_eq!(
        nov.closed["rds-instance/innovate-dev-db"].days[&30],
        3 * 3600
    );
    assert!(nov.open.is_empty());
}

#[tokio::test]
async fn prices_are_cached_a_week_read_again_when_stale_and_kept_when_the_api_is_down() {
    let fx = Fx::new("").await;
    let key = access_key(&fx).await;
    let db = Sizing::Instance {
        class: "db.t4g.small".into(),
        engine: "postgres".into(),
        multi_az: false,
        region: R.into(),
    };
    let now = Utc::now();
    let first = price_book(&fx.deps, keys(std::slice::from_ref(&db)), now).await;
    assert_eq!(pricing_calls(&key), 1, "one GetProducts");
    assert!(first.notes.is_empty());
    // A day later: the cached price, no call.
    let hit = price_book(
        &fx.deps,
        keys(std::slice::from_ref(&db)),
        now + Duration::days(1),
    )
    .await;
    assert_eq!(pricing_calls(&key), 1, "a cache hit makes no call");
    assert_eq!(hit.prices, first.prices);
    // Eight days later: read again.
    price_book(
        &fx.deps,
        keys(std::slice::from_ref(&db)),
        now + Duration::days(8),
    )
    .await;
    assert_eq!(pricing_calls(&key), 2, "a week-old price is read again");
}

#[tokio::test]
async fn a_stale_price_is_used_and_said_when_the_api_cannot_be_reached() {
    let fx = Fx::new("").await;
    let db = Sizing::Instance {
        class: "db.t4g.small".into(),
        engine: "postgres".into(),
        multi_az: false,
        region: R.into(),
    };
    let then = Utc::now() - Duration::days(10);
    price_book(&fx.deps, keys(std::slice::from_ref(&db)), then).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = aws_sdk_pricing::Client::from_conf(
        aws_sdk_pricing::config::Builder::from(&fx.home)
            .region(aws_sdk_pricing::config::Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{closed}"))
            .retry_config(aws_sdk_pricing::config::retry::RetryConfig::disabled())
            .build(),
    );
    let deps = fx.deps.with_pricing(down);
    let unknown = Sizing::Instance {
        class: "db.m7g.large".into(),
        engine: "postgres".into(),
        multi_az: false,
        region: R.into(),
    };
    let book = price_book(&deps, keys(&[db.clone(), unknown.clone()]), Utc::now()).await;
    let price = |k: &PriceKey| book.prices.get(&k.id());
    assert_eq!(db.hourly(price).unwrap(), dec("0.032"), "the cached price");
    assert!(
        book.notes.iter().any(|n| n.contains(
            "db.t4g.small PostgreSQL Single-AZ: the Price List API could not be reached"
        ) && n.contains(&format!(
            "the price read {} is used",
            then.format("%Y-%m-%d")
        ))),
        "{:?}",
        book.notes
    );
    assert!(
        book.notes
            .iter()
            .any(|n| n.contains("db.m7g.large PostgreSQL Single-AZ: price unknown")),
        "{:?}",
        book.notes
    );
    // The ledger says "price unknown" for it, and leaves it out of the totals: never a guess.
    let mut ledger = Ledger::new("2026-12");
    let at = t("2026-12-02T01:00:00Z");
    for (r, s) in [("rds-instance/a", &db), ("rds-instance/b", &unknown)] {
        ledger.apply(
            &Event::Down {
                resource: r.into(),
                sizing: s.clone(),
            },
            at,
        );
    }
    let s = savings(&ledger, at + Duration::hours(10), price);
    assert_eq!(s.unknown, vec!["rds-instance/b".to_owned()]);
    let b = s
        .resources
        .iter()
        .find(|l| l.resource == "rds-instance/b")
        .unwrap();
    assert_eq!(b.saved_usd, None);
    assert_eq!(s.month_usd, dec("0.32"));
}
