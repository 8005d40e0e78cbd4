//! The account memory in DynamoDB (`STATE_TABLE`): one item per account, `pk` =
//! `dev-scheduler#<account>`, read once before a run and written once after it when there is news.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use caretaker_shared::aws::{AwsError, aws_err};
use caretaker_shared::once::Failing;
use chrono::{DateTime, Utc};

use crate::domain::{BudgetHold, Hold, Memory};
use crate::ready::Morning;

#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) client: Client,
    pub(crate) table: String,
}

fn key(account: &str) -> AttributeValue {
    AttributeValue::S(format!("{}#{account}", crate::FUNCTION))
}

fn time(item: &HashMap<String, AttributeValue>, name: &str) -> Option<DateTime<Utc>> {
    let s = item.get(name)?.as_s().ok()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl State {
    /// The account's memory; an empty one the first time. An unreadable attribute reads as
    /// absent (the run then takes one interval ago as its last run).
    pub(crate) async fn load(&self, account: &str) -> Result<Memory, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", key(account))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws_err::<_, _, AwsError>("dynamodb", "GetItem"))?;
        let Some(item) = out.item else {
            return Ok(Memory::default());
        };
        let pending: BTreeSet<String> = match item.get("pending").and_then(|v| v.as_l().ok()) {
            Some(l) => l.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            None => BTreeSet::new(),
        };
        let hold = match (
            item.get("holdUp").and_then(|v| v.as_bool().ok()),
            time(&item, "holdAt"),
        ) {
            (Some(up), Some(at)) => Some(Hold { up: *up, at }),
            _ => None,
        };
        let failures = match item.get("failures").and_then(|v| v.as_m().ok()) {
            Some(m) => m
                .iter()
                .filter_map(|(k, v)| {
                    let f = v.as_m().ok()?;
                    Some((
                        k.clone(),
                        Failing {
                            cause: f.get("cause")?.as_s().ok()?.clone(),
                            since: time(f, "since")?,
                            told: time(f, "told")?,
                        },
                    ))
                })
                .collect(),
            None => Default::default(),
        };
        let budget_hold = match (time(&item, "budgetAt"), time(&item, "budgetUntil")) {
            (Some(at), Some(until)) => Some(BudgetHold {
                at,
                until,
                reason: item
                    .get("budgetReason")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default(),
                ignored_keep_up: match item.get("budgetIgnoredKeepUp").and_then(|v| v.as_l().ok()) {
                    Some(l) => l.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
                    None => BTreeSet::new(),
                },
                recording: false,
            }),
            _ => None,
        };
        let morning = time(&item, "morningBegan").map(|began| Morning {
            began,
            databases: time(&item, "morningDatabases"),
            nodes: time(&item, "morningNodes"),
            workloads: time(&item, "morningWorkloads"),
            said: item
                .get("morningSaid")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
        });
        Ok(Memory {
            last_run: time(&item, "lastRun"),
            pending,
            hold,
            failures,
            budget_hold,
            morning,
        })
    }

    pub(crate) async fn save(&self, account: &str, m: &Memory) -> Result<(), AwsError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", key(account))
            .item(
                "pending",
                AttributeValue::L(m.pending.iter().cloned().map(AttributeValue::S).collect()),
            );
        if !m.failures.is_empty() {
            let failures = m
                .failures
                .iter()
                .map(|(k, f)| {
                    let item = HashMap::from([
                        ("cause".to_owned(), AttributeValue::S(f.cause.clone())),
                        ("since".to_owned(), AttributeValue::S(f.since.to_rfc3339())),
                        ("told".to_owned(), AttributeValue::S(f.told.to_rfc3339())),
                    ]);
                    (k.clone(), AttributeValue::M(item))
                })
                .collect();
            put = put.item("failures", AttributeValue::M(failures));
        }
        if let Some(mo) = &m.morning {
            put = put
                .item("morningBegan", AttributeValue::S(mo.began.to_rfc3339()))
                .item("morningSaid", AttributeValue::Bool(mo.said));
            for (name, t) in [
                ("morningDatabases", mo.databases),
                ("morningNodes", mo.nodes),
                ("morningWorkloads", mo.workloads),
            ] {
                if let Some(t) = t {
                    put = put.item(name, AttributeValue::S(t.to_rfc3339()));
                }
            }
        }
        if let Some(b) = &m.budget_hold {
            put = put
                .item("budgetAt", AttributeValue::S(b.at.to_rfc3339()))
                .item("budgetUntil", AttributeValue::S(b.until.to_rfc3339()))
                .item("budgetReason", AttributeValue::S(b.reason.clone()))
                .item(
                    "budgetIgnoredKeepUp",
                    AttributeValue::L(
                        b.ignored_keep_up
                            .iter()
                            .cloned()
                            .map(AttributeValue::S)
                            .collect(),
                    ),
                );
        }
        if let Some(t) = m.last_run {
            put = put.item("lastRun", AttributeValue::S(t.to_rfc3339()));
        }
        if let Some(h) = m.hold {
            put = put
                .item("holdUp", AttributeValue::Bool(h.up))
                .item("holdAt", AttributeValue::S(h.at.to_rfc3339()));
        }
        put.send()
            .await
            .map_err(aws_err::<_, _, AwsError>("dynamodb", "PutItem"))?;
        Ok(())
    }
}

/// Beside each account's memory, the same table holds the savings ledger (one item per account
/// and month, `dev-scheduler#ledger#<account>#<YYYY-MM>`) and the price cache (one item,
/// `dev-scheduler#prices`), each a JSON document in `doc`. Both are read only by runs that need
/// them (a run with transitions, `status`), never by a quiet run.
impl State {
    async fn get_doc(&self, pk: String) -> Result<Option<String>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws_err::<_, _, AwsError>("dynamodb", "GetItem"))?;
        Ok(out
            .item
            .and_then(|i| i.get("doc").and_then(|d| d.as_s().ok()).cloned()))
    }

    async fn put_doc(&self, pk: String, doc: String) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk))
            .item("doc", AttributeValue::S(doc))
            .send()
            .await
            .map_err(aws_err::<_, _, AwsError>("dynamodb", "PutItem"))?;
        Ok(())
    }

    fn ledger_key(account: &str, month: &str) -> String {
        format!("{}#ledger#{account}#{month}", crate::FUNCTION)
    }

    /// The account's ledger for the month; `None` when it has none yet. An unreadable document
    /// is an error (a ledger is never silently started over).
    pub(crate) async fn load_ledger(
        &self,
        account: &str,
        month: &str,
    ) -> Result<Option<crate::ledger::Ledger>, String> {
        let doc = self
            .get_doc(Self::ledger_key(account, month))
            .await
            .map_err(|e| e.to_string())?;
        doc.map(|d| {
            serde_json::from_str(&d)
                .map_err(|e| format!("the ledger of {month} is unreadable: {e}"))
        })
        .transpose()
    }

    pub(crate) async fn save_ledger(
        &self,
        account: &str,
        ledger: &crate::ledger::Ledger,
    ) -> Result<(), String> {
        let doc = serde_json::to_string(ledger).map_err(|e| e.to_string())?;
        self.put_doc(Self::ledger_key(account, &ledger.month), doc)
            .await
            .map_err(|e| e.to_string())
    }

    /// The account's savings summary, for budget-guard's digest.
    pub(crate) async fn save_summary(
        &self,
        account: &str,
        summary: &caretaker_shared::contract::SavingsSummary,
    ) -> Result<(), String> {
        let doc = serde_json::to_string(summary).map_err(|e| e.to_string())?;
        self.put_doc(caretaker_shared::contract::savings_key(account), doc)
            .await
            .map_err(|e| e.to_string())
    }

    /// The last listing of the OUs' accounts.
    pub(crate) async fn load_org(&self) -> Result<Option<crate::accounts::Listing>, String> {
        let doc = self
            .get_doc(format!("{}#org", crate::FUNCTION))
            .await
            .map_err(|e| e.to_string())?;
        Ok(doc.and_then(|d| serde_json::from_str(&d).ok()))
    }

    pub(crate) async fn save_org(&self, listing: &crate::accounts::Listing) -> Result<(), String> {
        let doc = serde_json::to_string(listing).map_err(|e| e.to_string())?;
        self.put_doc(format!("{}#org", crate::FUNCTION), doc)
            .await
            .map_err(|e| e.to_string())
    }

    /// The cached prices by key id; empty when none (or unreadable: they are fetched again).
    pub(crate) async fn load_prices(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::prices::Price>, String> {
        let doc = self
            .get_doc(format!("{}#prices", crate::FUNCTION))
            .await
            .map_err(|e| e.to_string())?;
        Ok(doc
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default())
    }

    pub(crate) async fn save_prices(
        &self,
        prices: &std::collections::BTreeMap<String, crate::prices::Price>,
    ) -> Result<(), String> {
        let doc = serde_json::to_string(prices).map_err(|e| e.to_string())?;
        self.put_doc(format!("{}#prices", crate::FUNCTION), doc)
            .await
            .map_err(|e| e.to_string())
    }
}
