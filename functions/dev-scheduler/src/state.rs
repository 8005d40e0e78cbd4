//! The account memory in DynamoDB (`STATE_TABLE`): one item per account, `pk` =
//! `dev-scheduler#<account>`, read once before a run and written once after it when there is news.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use caretaker_shared::aws::{AwsError, aws_err};
use chrono::{DateTime, Utc};

use crate::domain::{Hold, Memory};

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
        Ok(Memory {
            last_run: time(&item, "lastRun"),
            pending,
            hold,
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
