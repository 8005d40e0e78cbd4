//! Every AWS call of budget-guard: Budgets and Cost Explorer in the management account where it
//! runs (every budget lives there, filtered by the member account it watches, and notifies a
//! topic of that same account), the DynamoDB table that makes every alert once-only, and
//! EventBridge for the dev shutdown request (its shape is the shared contract).

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_budgets::types::{
    Budget, BudgetType, ComparisonOperator, Notification, NotificationType,
    NotificationWithSubscribers, Spend, Subscriber, SubscriptionType, ThresholdType, TimeUnit,
};
use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;

use caretaker_shared::aws::{AwsError, aws_err, tolerate};
use caretaker_shared::contract::{SHUTDOWN_DETAIL_TYPE, SHUTDOWN_SOURCE, ShutdownRequest};
use caretaker_shared::error::BadInput;

use crate::domain::{Basis, DesiredBudget, ExistingBudget, Threshold, alert_levels, tag_filters};
use crate::error::GuardError;

fn dec(s: Option<&Spend>) -> Option<Decimal> {
    s.and_then(|s| Decimal::from_str(s.amount()).ok())
}

fn build_err(e: impl std::fmt::Display) -> GuardError {
    BadInput(format!("budget definition: {e}")).into()
}

// CostFilters is deprecated in favour of FilterExpression, but still accepted by AWS and the
// only form the local emulator understands; tag filters map onto it one to one.
#[allow(deprecated)]
pub(crate) async fn describe_budgets(
    client: &aws_sdk_budgets::Client,
    account: &str,
) -> Result<Vec<ExistingBudget>, GuardError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let res = client
            .describe_budgets()
            .account_id(account)
            .set_next_token(token.take())
            .send()
            .await;
        // An account without budgets answers NotFound.
        let Some(page) =
            tolerate(res, |e| e.is_not_found_exception())
                .map_err(aws_err::<_, _, GuardError>("budgets", "DescribeBudgets"))?
        else {
            return Ok(out);
        };
        for b in page.budgets.unwrap_or_default() {
            let filter = |key: &str| {
                b.cost_filters
                    .as_ref()
                    .and_then(|f| f.get(key))
                    .cloned()
                    .unwrap_or_default()
            };
            out.push(ExistingBudget {
                name: b.budget_name.clone(),
                limit: dec(b.budget_limit.as_ref()).unwrap_or_default(),
                tag_filters: filter("TagKeyValue"),
                linked_accounts: filter("LinkedAccount"),
                actual: dec(b
                    .calculated_spend
                    .as_ref()
                    .and_then(|c| c.actual_spend.as_ref()))
                .unwrap_or_default(),
                forecast: dec(b
                    .calculated_spend
                    .as_ref()
                    .and_then(|c| c.forecasted_spend.as_ref())),
            });
        }
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// The budget as AWS Budgets keeps it in the management account: its spend is the linked
/// (member) account's, narrowed by the tag filters.
#[allow(deprecated)]
fn budget(d: &DesiredBudget) -> Result<Budget, GuardError> {
    let mut filters = HashMap::new();
    filters.insert("LinkedAccount".to_owned(), vec![d.account.clone()]);
    let tags = tag_filters(&d.tags);
    if !tags.is_empty() {
        filters.insert("TagKeyValue".to_owned(), tags);
    }
    Budget::builder()
        .budget_name(&d.name)
        .budget_limit(
            Spend::builder()
                .amount(d.limit.normalize().to_string())
                .unit("USD")
                .build()
                .map_err(build_err)?,
        )
        .set_cost_filters(Some(filters))
        .time_unit(TimeUnit::Monthly)
        .budget_type(BudgetType::Cost)
        .build()
        .map_err(build_err)
}

fn alert(t: &Threshold) -> Result<Notification, GuardError> {
    Notification::builder()
        .notification_type(match t.basis {
            Basis::Actual => NotificationType::Actual,
            Basis::Forecast => NotificationType::Forecasted,
        })
        .comparison_operator(ComparisonOperator::GreaterThan)
        .threshold(f64::from(t.percent))
        .threshold_type(ThresholdType::Percentage)
        .build()
        .map_err(build_err)
}

fn subscriber(topic: &str) -> Result<Subscriber, GuardError> {
    Subscriber::builder()
        .subscription_type(SubscriptionType::Sns)
        .address(topic)
        .build()
        .map_err(build_err)
}

/// 50 / 80 / 100 % actual and 100 % forecast, to the notice topic budget-guard listens on.
fn notifications(topic: &str) -> Result<Vec<NotificationWithSubscribers>, GuardError> {
    alert_levels()
        .map(|t| {
            NotificationWithSubscribers::builder()
                .notification(alert(&t)?)
                .subscribers(subscriber(topic)?)
                .build()
                .map_err(build_err)
        })
        .collect()
}

/// The percentage alerts (`GREATER_THAN`) a budget has, as thresholds.
pub(crate) async fn alerts(
    client: &aws_sdk_budgets::Client,
    account: &str,
    budget: &str,
) -> Result<Vec<Threshold>, GuardError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let res = client
            .describe_notifications_for_budget()
            .account_id(account)
            .budget_name(budget)
            .set_next_token(token.take())
            .send()
            .await;
        let Some(page) =
            tolerate(res, |e| e.is_not_found_exception()).map_err(aws_err::<_, _, GuardError>(
                "budgets",
                "DescribeNotificationsForBudget",
            ))?
        else {
            return Ok(out);
        };
        for n in page.notifications.unwrap_or_default() {
            let percentage = n
                .threshold_type
                .as_ref()
                .is_none_or(|t| *t == ThresholdType::Percentage);
            if !percentage || n.comparison_operator != ComparisonOperator::GreaterThan {
                continue;
            }
            let basis = match n.notification_type {
                NotificationType::Actual => Basis::Actual,
                NotificationType::Forecasted => Basis::Forecast,
                _ => continue,
            };
            if n.threshold.fract() == 0.0 && n.threshold >= 0.0 {
                out.push(Threshold {
                    basis,
                    // Whole percentages only; checked just above.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    percent: n.threshold as u32,
                });
            }
        }
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// Adds one alert, sent to the notice topic.
pub(crate) async fn add_alert(
    client: &aws_sdk_budgets::Client,
    account: &str,
    budget: &str,
    t: &Threshold,
    topic: &str,
) -> Result<(), GuardError> {
    client
        .create_notification()
        .account_id(account)
        .budget_name(budget)
        .notification(alert(t)?)
        .subscribers(subscriber(topic)?)
        .send()
        .await
        .map_err(aws_err::<_, _, GuardError>("budgets", "CreateNotification"))?;
    Ok(())
}

/// Creates the budget in `home`, the management account (`d.account` is the account it watches).
pub(crate) async fn create_budget(
    client: &aws_sdk_budgets::Client,
    home: &str,
    d: &DesiredBudget,
    topic: Option<&str>,
) -> Result<(), GuardError> {
    let mut req = client.create_budget().account_id(home).budget(budget(d)?);
    if let Some(t) = topic {
        req = req.set_notifications_with_subscribers(Some(notifications(t)?));
    }
    req.send()
        .await
        .map_err(aws_err::<_, _, GuardError>("budgets", "CreateBudget"))?;
    Ok(())
}

pub(crate) async fn update_budget(
    client: &aws_sdk_budgets::Client,
    home: &str,
    d: &DesiredBudget,
) -> Result<(), GuardError> {
    client
        .update_budget()
        .account_id(home)
        .new_budget(budget(d)?)
        .send()
        .await
        .map_err(aws_err::<_, _, GuardError>("budgets", "UpdateBudget"))?;
    Ok(())
}

/// Month-to-date cost grouped by one dimension or tag, biggest first.
pub(crate) async fn top_costs(
    ce: &aws_sdk_costexplorer::Client,
    start: &str,
    end: &str,
    group: aws_sdk_costexplorer::types::GroupDefinition,
) -> Result<Vec<(String, Decimal)>, GuardError> {
    use aws_sdk_costexplorer::types::{DateInterval, Granularity};
    let out = ce
        .get_cost_and_usage()
        .time_period(
            DateInterval::builder()
                .start(start)
                .end(end)
                .build()
                .map_err(build_err)?,
        )
        .granularity(Granularity::Monthly)
        .metrics("UnblendedCost")
        .group_by(group)
        .send()
        .await
        .map_err(aws_err::<_, _, GuardError>("ce", "GetCostAndUsage"))?;
    let mut totals: HashMap<String, Decimal> = HashMap::new();
    for r in out.results_by_time.unwrap_or_default() {
        for g in r.groups.unwrap_or_default() {
            let key = g.keys.unwrap_or_default().join(", ");
            let amount = g
                .metrics
                .as_ref()
                .and_then(|m| m.get("UnblendedCost"))
                .and_then(|v| v.amount.as_deref())
                .and_then(|a| Decimal::from_str(a).ok())
                .unwrap_or_default();
            *totals.entry(key).or_default() += amount;
        }
    }
    let mut v: Vec<_> = totals.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(v)
}

/// Once-only memory: a conditional put that succeeds for the first claimant only. Keys come
/// from [`crate::domain::claim_key`].
pub(crate) struct Ledger {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
}

/// dev-scheduler's savings summary of a dev account, from its memory table; `Ok(None)` when it
/// has written none (no transition yet, or no dev-scheduler).
pub(crate) async fn savings_summary(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    account: &str,
) -> Result<Option<caretaker_shared::contract::SavingsSummary>, String> {
    let out = client
        .get_item()
        .table_name(table)
        .key(
            "pk",
            AttributeValue::S(caretaker_shared::contract::savings_key(account)),
        )
        .send()
        .await
        .map_err(|e| {
            caretaker_shared::aws::AwsError::new("dynamodb", "GetItem", &e)
                .on(table)
                .to_string()
        })?;
    let Some(doc) = out
        .item
        .and_then(|i| i.get("doc").and_then(|d| d.as_s().ok()).cloned())
    else {
        return Ok(None);
    };
    serde_json::from_str(&doc)
        .map(Some)
        .map_err(|e| format!("the savings summary of {account} is unreadable: {e}"))
}

impl Ledger {
    /// true = newly claimed (act now); false = already done in an earlier run.
    pub(crate) async fn claim(
        &self,
        key: &str,
        what: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, GuardError> {
        let expires = (now + chrono::Duration::days(120)).timestamp();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("what", AttributeValue::S(what.to_owned()))
            .item("at", AttributeValue::S(now.to_rfc3339()))
            .item("expiresAt", AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Someone claimed it first: the condition fails.
        Ok(tolerate(res, |e| e.is_conditional_check_failed_exception())
            .map_err(aws_err::<_, _, GuardError>("dynamodb", "PutItem"))?
            .is_some())
    }

    /// Give a claim back (the alert could not be delivered: the next run tries again).
    pub(crate) async fn release(&self, key: &str) -> Result<(), GuardError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(aws_err::<_, _, GuardError>("dynamodb", "DeleteItem"))?;
        Ok(())
    }
}

/// Ask dev-scheduler (subscribed by an EventBridge rule) to shut an account's dev estate down.
pub(crate) async fn request_shutdown(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    account: &str,
    reason: &str,
) -> Result<(), GuardError> {
    let detail = serde_json::to_string(&ShutdownRequest::new(account, reason))
        .map_err(|e| AwsError::answered("events", "PutEvents", e.to_string(), false))?;
    let out = events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(SHUTDOWN_SOURCE)
                .detail_type(SHUTDOWN_DETAIL_TYPE)
                .detail(detail)
                .event_bus_name(bus)
                .build(),
        )
        .send()
        .await
        .map_err(aws_err::<_, _, GuardError>("events", "PutEvents"))?;
    if out.failed_entry_count > 0 {
        return Err(
            AwsError::answered("events", "PutEvents", "the event was not accepted", true).into(),
        );
    }
    Ok(())
}
