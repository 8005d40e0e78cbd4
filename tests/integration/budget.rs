//! budget-guard against moto: Budgets with staged CalculatedSpend in a per-test management
//! account, each watching a dev or prod account (its `LinkedAccount` filter, as AWS Organizations
//! keeps them), Cost Explorer results queued through moto's API, the
//! once-only ledger in DynamoDB, alerts captured from SNS and shutdown requests from EventBridge,
//! both through SQS.

use aws_sdk_budgets::types::{Budget, BudgetType, CalculatedSpend, Spend, TimeUnit};
use budget_guard::event::{Command, parse};
use budget_guard::handler::run;
use budget_guard::{Deps, GuardConfig};
use caretaker_shared::notify::{Notifiers, SnsSink};
use caretaker_shared::report::{Outcome, RunReport};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::*;

/// (account "dev"/"prod", name, limit, actual, forecast, shutdownAt)
pub type Staged<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
);

pub struct Fx {
    pub home: aws_config::SdkConfig,
    pub home_account: String,
    pub dev: String,
    pub prod: String,
    pub deps: Deps,
    pub alerts: String,
    pub shutdowns: String,
    /// The alert topic's ARN (its SNS sink is in `deps`).
    pub topic: String,
}

pub fn now() -> DateTime<Utc> {
    "2026-11-28T08:00:00Z".parse().unwrap()
}

impl Fx {
    /// `budgets`: (account "dev"/"prod", name, limit, actual, forecast, shutdownAt?)
    pub async fn new(budgets: &[Staged<'_>], desired_only: bool) -> Self {
        Self::with(budgets, desired_only, &[]).await
    }

    /// `extra` variables are added to the configuration.
    pub async fn with(budgets: &[Staged<'_>], desired_only: bool, extra: &[(&str, &str)]) -> Self {
        let home_account = fresh_account();
        let (dev, prod) = (fresh_account(), fresh_account());
        let home = config_in(&home_account).await;
        // Stage the budgets as they are in AWS (skipped for reconcile tests that create them).
        for (env, name, limit, actual, forecast, _) in budgets {
            if desired_only {
                break;
            }
            let account = if *env == "dev" { &dev } else { &prod };
            let tags = [
                format!("user:env${env}"),
                "user:project$innovate".to_owned(),
            ];
            stage_budget(
                &home_account,
                account,
                &tags,
                name,
                limit,
                actual,
                *forecast,
            )
            .await;
        }
        let table = "caretaker-budget-guard";
        ledger_table(&home, table).await;
        let (sns, topic, alerts) = alert_topic(&home).await;
        let shutdowns = capture_shutdowns(&home).await;
        let desired: Vec<Value> = budgets
            .iter()
            .map(|(env, name, limit, _, _, shutdown)| {
                let mut b = json!({"account": if *env == "dev" { &dev } else { &prod }, "env": env, "name": name, "limit": limit,
                                   "tags": {"env": env, "project": "innovate"}});
                if let Some(s) = shutdown {
                    let (basis, pct) = s.split_once('-').unwrap();
                    b["shutdownAt"] = json!({"basis": basis, "percent": pct.parse::<u32>().unwrap()});
                }
                b
            })
            .collect();
        let budgets_json = Value::Array(desired).to_string();
        let accounts = format!("{dev},{prod}");
        let vars: Vec<(&str, &str)> = vec![
            ("BUDGETS", &budgets_json),
            ("STATE_TABLE", table),
            ("ALLOWED_ACCOUNTS", &accounts),
            ("BUDGET_NOTICE_TOPIC_ARN", &topic),
        ];
        let vars: Vec<(&str, &str)> = vars.into_iter().chain(extra.iter().copied()).collect();
        let config = GuardConfig::from_env(&vars.as_slice()).unwrap();
        let deps = Deps::new(
            home.clone(),
            home_account.clone(),
            config,
            Notifiers::new(vec![Box::new(SnsSink::new(sns, &topic))]),
        );
        Fx {
            home,
            home_account,
            dev,
            prod,
            deps,
            alerts,
            shutdowns,
            topic,
        }
    }

    pub async fn alerts(&self) -> Vec<String> {
        drain(&self.home, &self.alerts).await
    }

    pub async fn shutdowns(&self) -> Vec<Value> {
        drain(&self.home, &self.shutdowns)
            .await
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect()
    }

    /// The budgets of `account` as (name, the accounts its LinkedAccount filter names).
    #[allow(deprecated)]
    pub async fn budgets_in(&self, account: &str) -> Vec<(String, Vec<String>)> {
        let c = aws_sdk_budgets::Client::new(&config_in(account).await);
        let Ok(out) = c.describe_budgets().account_id(account).send().await else {
            return Vec::new(); // an account without budgets answers NotFound
        };
        let mut v: Vec<(String, Vec<String>)> = out
            .budgets
            .unwrap_or_default()
            .into_iter()
            .map(|b| {
                let linked = b
                    .cost_filters
                    .and_then(|mut f| f.remove("LinkedAccount"))
                    .unwrap_or_default();
                (b.budget_name, linked)
            })
            .collect();
        v.sort();
        v
    }

    /// The names of the management account's budgets.
    pub async fn budget_names(&self) -> Vec<String> {
        let v = self.budgets_in(&self.home_account).await;
        v.into_iter().map(|(name, _)| name).collect()
    }
}

/// A budget as AWS has it: in the management account `home`, watching `watched`.
#[allow(deprecated)]
pub async fn stage_budget(
    home: &str,
    watched: &str,
    tags: &[String],
    name: &str,
    limit: &str,
    actual: &str,
    forecast: Option<&str>,
) {
    let c = aws_sdk_budgets::Client::new(&config_in(home).await);
    let spend = |a: &str| Spend::builder().amount(a).unit("USD").build().unwrap();
    let mut filters =
        std::collections::HashMap::from([("LinkedAccount".to_owned(), vec![watched.to_owned()])]);
    if !tags.is_empty() {
        filters.insert("TagKeyValue".to_owned(), tags.to_vec());
    }
    let budget = Budget::builder()
        .budget_name(name)
        .set_cost_filters(Some(filters))
        .budget_limit(spend(limit))
        .time_unit(TimeUnit::Monthly)
        .budget_type(BudgetType::Cost)
        .calculated_spend(
            CalculatedSpend::builder()
                .actual_spend(spend(actual))
                .set_forecasted_spend(forecast.map(spend))
                .build(),
        )
        .build()
        .unwrap();
    c.create_budget()
        .account_id(home)
        .budget(budget)
        .send()
        .await
        .unwrap();
}

/// An EventBridge rule for budget-guard's shutdown requests, delivering to an SQS queue.
async fn capture_shutdowns(config: &aws_config::SdkConfig) -> String {
    let sqs = aws_sdk_sqs::Client::new(config);
    let url = sqs
        .create_queue()
        .queue_name(format!("shutdowns-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let events = aws_sdk_eventbridge::Client::new(config);
    events
        .put_rule()
        .name("dev-shutdown-requests")
        .event_pattern(json!({"source": ["caretaker.budget-guard"], "detail-type": ["Dev Shutdown Requested"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("dev-shutdown-requests")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

async fn queue_costs(account: &str, groups: &[(&str, &str)]) {
    let result = json!({"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-29"}, "Total": {},
        "Groups": groups.iter().map(|(k, a)| json!({"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": a, "Unit": "USD"}}})).collect::<Vec<_>>(),
        "Estimated": true}], "DimensionValueAttributes": []});
    let url = format!(
        "{}/moto-api/static/ce/cost-and-usage-results",
        stack_var("AWS_ENDPOINT_URL")
    );
    let resp = reqwest::Client::new()
        .post(url)
        .json(&json!({"results": [result], "account_id": account}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

#[tokio::test]
async fn thresholds_alert_once_per_period_and_rearm_next_month() {
    let fx = Fx::new(
        &[
            ("dev", "dev-under", "400", "100", Some("150"), None),
            ("dev", "dev-near", "400", "330", Some("390"), None),
            (
                "dev",
                "dev-forecast-only",
                "400",
                "150",
                Some("436.90"),
                None,
            ),
            (
                "prod",
                "prod-escalated",
                "2000",
                "3100.25",
                Some("4000"),
                None,
            ),
        ],
        false,
    )
    .await;
    let r = run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    assert_eq!(r.totals.failed, 0, "{r:?}");
    let msgs = fx.alerts().await;
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    let find = |s: &str| {
        msgs.iter()
            .find(|m| m.contains(s))
            .unwrap_or_else(|| panic!("no message with {s}: {msgs:#?}"))
    };
    assert!(find("dev-near at 82.5% of $400.00").starts_with("[WARNING]"));
    assert!(find("dev-near").contains("Thresholds crossed: 50% actual, 80% actual"));
    assert!(
        find("dev-forecast-only forecast to exceed $400.00")
            .contains("Forecast for the month: $436.90 (109.2%)")
    );
    let esc = find("prod-escalated at 155.0% of $2,000.00");
    assert!(
        esc.starts_with("[CRITICAL]") && esc.contains("150% actual") && esc.contains("Escalation"),
        "{esc}"
    );
    assert!(esc.contains(&fx.prod), "the account is named");

    // The same run again sends nothing new.
    let again = run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    assert_eq!(again.totals.changed, 0, "{again:?}");
    assert!(fx.alerts().await.is_empty());

    // A new period re-arms every threshold.
    let december: DateTime<Utc> = "2026-12-01T08:00:00Z".parse().unwrap();
    run(&fx.deps, Command::Check { dry_run: false }, december)
        .await
        .unwrap();
    assert_eq!(fx.alerts().await.len(), 3);
}

#[tokio::test]
async fn one_failing_sink_of_two_keeps_the_claim_so_the_other_never_hears_it_twice() {
    let mut fx = Fx::new(
        &[("dev", "dev-near", "400", "330", Some("390"), None)],
        false,
    )
    .await;
    // SNS takes the message; the webhook's receiver refuses every connection.
    let dead =
        caretaker_shared::notify::WebhookSink::new("http://127.0.0.1:9/hook".into(), "t").unwrap();
    fx.deps.notifiers = Notifiers::new(vec![
        Box::new(SnsSink::new(aws_sdk_sns::Client::new(&fx.home), &fx.topic)),
        Box::new(dead),
    ]);
    let r = run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    assert_eq!(
        outcome_of(&r, "dev-near"),
        &Outcome::changed("alert sent: 50% actual, 80% actual"),
        "delivered to one sink: {r:#?}"
    );
    assert_eq!(fx.alerts().await.len(), 1);
    let again = run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    assert_eq!(
        outcome_of(&again, "dev-near"),
        &Outcome::Unchanged,
        "{again:#?}"
    );
    assert!(
        fx.alerts().await.is_empty(),
        "the sink that had the alert does not get it again"
    );
}

fn outcome_of<'a>(r: &'a caretaker_shared::RunReport, id: &str) -> &'a Outcome {
    &r.resources
        .iter()
        .find(|x| x.id == id)
        .unwrap_or_else(|| panic!("{id} not in {r:#?}"))
        .outcome
}

#[tokio::test]
async fn dev_overspend_requests_one_shutdown_and_prod_is_refused() {
    let fx = Fx::new(
        &[
            (
                "dev",
                "innovate-dev-monthly",
                "400",
                "251.35",
                Some("436.90"),
                Some("forecast-100"),
            ),
            (
                "prod",
                "innovate-prod-monthly",
                "2000",
                "2100",
                Some("2500"),
                Some("actual-100"),
            ),
        ],
        false,
    )
    .await;
    let r = run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    let shut: Vec<_> = r
        .resources
        .iter()
        .filter(|x| x.kind == "dev-shutdown")
        .collect();
    assert_eq!(shut.len(), 2, "{r:?}");
    assert!(
        matches!(&shut[0].outcome, Outcome::Changed { action } if action.contains("innovate-dev-monthly reached 100% forecast ($436.90 of $400.00)")),
        "{shut:?}"
    );
    assert!(
        matches!(&shut[1].outcome, Outcome::Skipped { reason } if reason.contains("env=prod")),
        "{shut:?}"
    );
    let events = fx.shutdowns().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["account"], fx.dev);
    assert_eq!(events[0]["detail"]["action"], "shutdown");
    assert!(
        fx.alerts()
            .await
            .iter()
            .any(|m| m.contains("Dev shutdown requested for dev"))
    );

    run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    assert!(fx.shutdowns().await.is_empty(), "at most once per period");
}

/// dev's budget with a shutdown at `at` ("forecast-100"), this month's spend staged, and what
/// budget-guard did with the Budgets notice `event` (an `events/budget-guard/` file).
async fn notice_for_dev(actual: &str, forecast: &str, at: &str, event: &str) -> (Fx, RunReport) {
    let fx = Fx::new(
        &[(
            "dev",
            "innovate-dev-monthly",
            "400",
            actual,
            Some(forecast),
            Some(at),
        )],
        false,
    )
    .await;
    let cmd = parse(serde_json::from_str(event).unwrap()).unwrap();
    let r = run(&fx.deps, cmd, now()).await.unwrap();
    (fx, r)
}

#[tokio::test]
async fn a_budgets_notice_of_overspend_asks_for_the_shutdown_at_once_and_the_daily_check_not_again()
{
    // GIVEN dev's budget with a shutdown at 100 % forecast, WHEN AWS Budgets' forecast notice
    // arrives, at whatever hour
    let (fx, r) = notice_for_dev(
        "251.35",
        "436.90",
        "forecast-100",
        include_str!("../../events/budget-guard/budgets-notice-monthly-forecast.json"),
    )
    .await;
    // THEN the shutdown is asked for now, saying why
    let shut = r
        .resources
        .iter()
        .find(|x| x.kind == "dev-shutdown")
        .unwrap();
    assert!(
        matches!(&shut.outcome, Outcome::Changed { action }
            if action.contains("innovate-dev-monthly reached 100% forecast ($436.90 of $400.00), per AWS Budgets' notice")),
        "{shut:?}"
    );
    let events = fx.shutdowns().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["account"], fx.dev);
    // and the daily check of the same period finds it asked for already
    run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    assert!(fx.shutdowns().await.is_empty(), "once per period");
    // An actual-spend notice below the level asks for nothing.
    let (fx, r) = notice_for_dev(
        "331.47",
        "380",
        "actual-100",
        include_str!("../../events/budget-guard/budgets-notice-monthly-actual.json"),
    )
    .await;
    assert!(
        !r.resources.iter().any(|x| x.kind == "dev-shutdown"),
        "{r:?}"
    );
    assert!(fx.shutdowns().await.is_empty());
}

#[tokio::test]
async fn reconcile_creates_missing_leaves_unmanaged_alone_and_then_changes_nothing() {
    let fx = Fx::new(
        &[
            ("dev", "innovate-dev-monthly", "400", "0", None, None),
            ("prod", "innovate-prod-monthly", "2000", "0", None, None),
        ],
        true,
    )
    .await;
    stage_budget(
        &fx.home_account,
        &fx.dev,
        &[],
        "someones-manual-budget",
        "50",
        "10",
        None,
    )
    .await;

    let dry = run(&fx.deps, Command::Reconcile { dry_run: true }, now())
        .await
        .unwrap();
    assert_eq!(dry.totals.changed, 2);
    assert_eq!(
        fx.budget_names().await,
        vec!["someones-manual-budget"],
        "dry run created nothing"
    );

    let r = run(&fx.deps, Command::Reconcile { dry_run: false }, now())
        .await
        .unwrap();
    assert_eq!(
        (r.totals.changed, r.totals.skipped, r.totals.failed),
        (2, 1, 0),
        "{r:?}"
    );
    // Every budget in the management account, each watching its own account: its notices go to
    // a topic of the budget's own account, the only place AWS Budgets publishes to
    // (https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html).
    assert_eq!(
        fx.budgets_in(&fx.home_account).await,
        vec![
            ("innovate-dev-monthly".to_owned(), vec![fx.dev.clone()]),
            ("innovate-prod-monthly".to_owned(), vec![fx.prod.clone()]),
            ("someones-manual-budget".to_owned(), vec![fx.dev.clone()]),
        ]
    );
    assert!(fx.budgets_in(&fx.dev).await.is_empty(), "none in dev");
    assert!(fx.budgets_in(&fx.prod).await.is_empty(), "none in prod");
    assert!(
        fx.topic.contains(&format!(":{}:", fx.home_account)),
        "the notice topic is the budgets' account's: {}",
        fx.topic
    );

    // Nothing differs now: no mutating call (the emulator has no UpdateBudget: one would fail).
    let again = run(&fx.deps, Command::Reconcile { dry_run: false }, now())
        .await
        .unwrap();
    assert_eq!(
        (
            again.totals.changed,
            again.totals.unchanged,
            again.totals.failed
        ),
        (0, 2, 0),
        "{again:?}"
    );

    // Someone deletes the 80 % alert and adds a 90 % one of their own: reconcile puts the 80 %
    // back and keeps theirs; the run after that changes nothing.
    use aws_sdk_budgets::types::{
        ComparisonOperator, Notification, NotificationType, Subscriber, SubscriptionType,
        ThresholdType,
    };
    let budgets = aws_sdk_budgets::Client::new(&config_in(&fx.home_account).await);
    let alert = |percent: f64| {
        Notification::builder()
            .notification_type(NotificationType::Actual)
            .comparison_operator(ComparisonOperator::GreaterThan)
            .threshold(percent)
            .threshold_type(ThresholdType::Percentage)
            .build()
            .unwrap()
    };
    budgets
        .delete_notification()
        .account_id(&fx.home_account)
        .budget_name("innovate-dev-monthly")
        .notification(alert(80.0))
        .send()
        .await
        .unwrap();
    budgets
        .create_notification()
        .account_id(&fx.home_account)
        .budget_name("innovate-dev-monthly")
        .notification(alert(90.0))
        .subscribers(
            Subscriber::builder()
                .subscription_type(SubscriptionType::Email)
                .address("finance@innovate.example")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let fixed = run(&fx.deps, Command::Reconcile { dry_run: false }, now())
        .await
        .unwrap();
    let dev = fixed
        .resources
        .iter()
        .find(|r| r.id == "innovate-dev-monthly")
        .unwrap();
    assert_eq!(
        dev.outcome,
        caretaker_shared::report::Outcome::changed("added alerts 80% actual"),
        "{fixed:?}"
    );
    let mut thresholds: Vec<(String, i64)> = budgets
        .describe_notifications_for_budget()
        .account_id(&fx.home_account)
        .budget_name("innovate-dev-monthly")
        .send()
        .await
        .unwrap()
        .notifications
        .unwrap_or_default()
        .iter()
        .map(|n| (n.notification_type.as_str().to_owned(), n.threshold as i64))
        .collect();
    thresholds.sort();
    assert_eq!(
        thresholds,
        [
            ("ACTUAL".to_owned(), 50),
            ("ACTUAL".to_owned(), 80),
            ("ACTUAL".to_owned(), 90),
            ("ACTUAL".to_owned(), 100),
            ("FORECASTED".to_owned(), 100)
        ]
    );
    let settled = run(&fx.deps, Command::Reconcile { dry_run: false }, now())
        .await
        .unwrap();
    assert_eq!(settled.totals.changed, 0, "{settled:?}");
}

#[tokio::test]
async fn digest_lists_every_budget_and_the_top_cost_drivers() {
    let fx = Fx::new(
        &[
            (
                "dev",
                "innovate-dev-monthly",
                "400",
                "251.35",
                Some("436.90"),
                None,
            ),
            (
                "prod",
                "innovate-prod-monthly",
                "2000",
                "1104.80",
                Some("1890"),
                None,
            ),
        ],
        false,
    )
    .await;
    queue_costs(
        &fx.home_account,
        &[
            ("Amazon Relational Database Service", "612.40"),
            ("Amazon Elastic Kubernetes Service", "291.00"),
            ("AWS Fargate", "310.15"),
        ],
    )
    .await;
    queue_costs(
        &fx.home_account,
        &[("env$prod", "1104.80"), ("env$dev", "251.35")],
    )
    .await;
    queue_costs(&fx.home_account, &[("cost_center$engineering", "1356.15")]).await;
    let r = run(
        &fx.deps,
        parse(serde_json::from_str(include_str!("../../events/budget-guard/digest.json")).unwrap())
            .unwrap(),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(r.totals.failed, 0, "{r:?}");
    let msgs = fx.alerts().await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert!(
        m.contains("Cost digest 2026-11-28: 3 days left in the month"),
        "{m}"
    );
    assert!(
        m.contains("$251.35 of $400.00 (62.8%), on track to exceed by $36.90"),
        "{m}"
    );
    assert!(
        m.contains("Top services: Amazon Relational Database Service $612.40, AWS Fargate $310.15"),
        "{m}"
    );
    assert!(m.contains("By env: prod $1,104.80, dev $251.35"), "{m}");
    assert!(
        m.contains("What to do: A budget is at or forecast over its limit"),
        "{m}"
    );
}

/// dev-scheduler's savings summary of the dev account (as its run writes it) becomes one line
/// of the digest; last month's is not shown, and an unreadable one says so.
#[tokio::test]
async fn the_digest_says_what_the_dev_nights_saved_and_what_still_bills() {
    let scheduler_table = "caretaker-dev-scheduler";
    let fx = Fx::with(
        &[("dev", "innovate-dev-monthly", "400", "251.35", None, None)],
        false,
        &[("SCHEDULER_STATE_TABLE", scheduler_table)],
    )
    .await;
    ledger_table(&fx.home, scheduler_table).await;
    let summary = caretaker_shared::contract::SavingsSummary {
        month: "2026-11".into(),
        month_usd: "61.20".into(),
        unknown: 0,
        still_billing_per_day_usd: "4.56".into(),
        still_billing: vec![
            ("EKS control plane".into(), 1, Some("2.40".into())),
            ("NAT gateway".into(), 2, Some("2.16".into())),
        ],
        price_date: Some("2026-11-01".into()),
        at: now(),
    };
    let put = |account: &str, doc: String| {
        aws_sdk_dynamodb::Client::new(&fx.home)
            .put_item()
            .table_name(scheduler_table)
            .item(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(
                    caretaker_shared::contract::savings_key(account),
                ),
            )
            .item("doc", aws_sdk_dynamodb::types::AttributeValue::S(doc))
            .send()
    };
    put(&fx.dev, serde_json::to_string(&summary).unwrap())
        .await
        .unwrap();
    put(&fx.prod, "{not json".into()).await.unwrap();
    let digest = || async {
        run(&fx.deps, parse(json!({"action": "digest"})).unwrap(), now())
            .await
            .unwrap()
    };
    digest().await;
    let m = fx.alerts().await.pop().unwrap();
    assert!(
        m.contains(&format!("Dev nights ({}): nights and weekends saved $61.20 this month; still billing at night: EKS control plane $2.40/day, 2 NAT gateways $2.16/day (on-demand prices of 2026-11-01)", fx.dev)),
        "{m}"
    );
    assert!(
        m.contains(&format!("Dev nights ({}): could not be read", fx.prod)),
        "{m}"
    );
    // Last month's summary is not this month's news.
    let old = caretaker_shared::contract::SavingsSummary {
        month: "2026-10".into(),
        ..summary
    };
    put(&fx.dev, serde_json::to_string(&old).unwrap())
        .await
        .unwrap();
    digest().await;
    let m = fx.alerts().await.pop().unwrap();
    assert!(!m.contains(&format!("Dev nights ({})", fx.dev)), "{m}");
}

#[tokio::test]
async fn budgets_notices_and_anomalies_become_readable_messages() {
    let fx = Fx::new(&[], false).await;
    for (file, expect) in [
        (
            include_str!("../../events/budget-guard/budgets-notice-monthly-actual.json"),
            "innovate-dev-monthly: actual spend $331.47 passed its alert threshold",
        ),
        (
            include_str!("../../events/budget-guard/budgets-notice-monthly-forecast.json"),
            "innovate-dev-monthly: forecast spend $436.90",
        ),
        (
            include_str!("../../events/budget-guard/budgets-notice-daily-actual.json"),
            "Budget: $100.00 for the day (91.0% used)",
        ),
        (
            include_str!("../../events/budget-guard/anomaly-sns.json"),
            "Cost anomaly: Amazon Relational Database Service spent $118.40 more than expected",
        ),
        (
            include_str!("../../events/budget-guard/anomaly-event.json"),
            "Root cause 1: Amazon Relational Database Service USE1-InstanceUsage:db.r6g.large in us-east-1 (innovate-dev)",
        ),
    ] {
        let cmd = parse(serde_json::from_str(file).unwrap()).unwrap();
        let r = run(&fx.deps, cmd, now()).await.unwrap();
        assert_eq!(r.totals.changed, 1, "{r:?}");
        let msgs = fx.alerts().await;
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].contains(expect), "{expect}\n{}", msgs[0]);
        assert!(msgs[0].contains("What to do:"));
    }
    // A Budgets wording we do not know still arrives, as it came.
    let odd = json!({"Records": [{"Sns": {"Subject": "AWS Budgets: innovate-dev-monthly has exceeded your alert threshold",
                                          "Message": "AWS Budget Notification\nSomething new in this format."}}]});
    run(&fx.deps, parse(odd).unwrap(), now()).await.unwrap();
    assert!(fx.alerts().await[0].contains("Something new in this format."));
}

#[tokio::test]
async fn malformed_input_is_a_clear_error_and_sends_nothing() {
    let fx = Fx::new(&[], false).await;
    let garbled = parse(
        serde_json::from_str(include_str!(
            "../../events/budget-guard/bad-budgets-notice-garbled.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let err = run(&fx.deps, garbled, now()).await.unwrap_err();
    assert!(
        err.to_string().contains("unrecognised SNS message"),
        "{err}"
    );
    let err = parse(
        serde_json::from_str(include_str!(
            "../../events/budget-guard/bad-unknown-action.json"
        ))
        .unwrap(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown action \"spend-less\""),
        "{err}"
    );
    let err = run(&fx.deps, Command::Anomaly(json!({"hello": 1})), now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a Cost Anomaly"), "{err}");
    assert!(fx.alerts().await.is_empty());
}

#[tokio::test]
async fn the_scheduled_daily_run_sends_one_digest_a_day() {
    let fx = Fx::new(
        &[(
            "dev",
            "innovate-dev-monthly",
            "400",
            "100",
            Some("150"),
            None,
        )],
        false,
    )
    .await;
    let daily = parse(
        serde_json::from_str(include_str!(
            "../../events/budget-guard/scheduled-daily.json"
        ))
        .unwrap(),
    )
    .unwrap();
    run(&fx.deps, daily.clone(), now()).await.unwrap();
    let first = fx.alerts().await;
    assert_eq!(first.len(), 1, "under budget: only the digest: {first:#?}");
    assert!(first[0].contains("Cost digest 2026-11-28"));
    run(&fx.deps, daily, now()).await.unwrap();
    assert!(
        fx.alerts().await.is_empty(),
        "a retry of the daily run sends nothing new"
    );
    run(
        &fx.deps,
        Command::Digest {
            dry_run: false,
            at: None,
        },
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        fx.alerts().await.len(),
        1,
        "asked for by hand, the digest is always sent"
    );
}

#[tokio::test]
async fn the_daily_report_agrees_with_itself_and_odd_input_is_refused() {
    let fx = Fx::new(
        &[
            ("dev", "dev-near", "400", "330", Some("390"), None),
            // 99.9988 % of the limit: no 100 % alert, and never shown as the limit.
            ("dev", "dev-just-under", "400.10", "400.095", None, None),
        ],
        false,
    )
    .await;
    let r = run(&fx.deps, Command::Daily, now()).await.unwrap();
    let t = &r.totals;
    assert_eq!(r.action, "daily");
    assert_eq!(
        r.summary,
        format!(
            "budget-guard daily: changed {}, unchanged {}, skipped {}, failed {}",
            t.changed, t.unchanged, t.skipped, t.failed
        ),
        "{r:#?}"
    );
    let msgs = fx.alerts().await;
    let under = msgs
        .iter()
        .find(|m| m.contains("dev-just-under at"))
        .unwrap();
    assert!(
        under.contains("Thresholds crossed: 50% actual, 80% actual\n")
            && under.contains("at 99.9% of $400.10")
            && under.starts_with("[WARNING]"),
        "99.9988 % is not the 100 % alert: {under}"
    );
    let digest = msgs.iter().find(|m| m.contains("Cost digest")).unwrap();
    assert!(
        digest.contains("$400.09 of $400.10 (99.9%)"),
        "a spend below the limit never reads as the limit: {digest}"
    );
    for (file, needle) in [
        (
            include_str!("../../events/budget-guard/bad-empty-sns.json"),
            "no record",
        ),
        (
            include_str!("../../events/budget-guard/bad-array.json"),
            "not a JSON object",
        ),
    ] {
        let err = parse(serde_json::from_str(file).unwrap()).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[tokio::test]
async fn prod_is_never_shut_down_even_with_allow_prod() {
    let fx = Fx::with(
        &[(
            "prod",
            "innovate-prod-monthly",
            "2000",
            "2100",
            Some("2500"),
            Some("actual-100"),
        )],
        false,
        &[("ALLOW_PROD", "true"), ("ALLOWED_ENVS", "dev,prod")],
    )
    .await;
    let r = run(&fx.deps, Command::Check { dry_run: false }, now())
        .await
        .unwrap();
    let shut = r
        .resources
        .iter()
        .find(|x| x.kind == "dev-shutdown")
        .unwrap();
    assert!(
        matches!(&shut.outcome, Outcome::Skipped { reason } if reason.contains("never shut down")),
        "{shut:?}"
    );
    assert!(
        fx.shutdowns().await.is_empty(),
        "no shutdown request for prod"
    );
}
