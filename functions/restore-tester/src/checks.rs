//! The SQL checks that prove a restore: configured as JSON, run over verified TLS, each with a
//! named expectation. Table names are quoted; free-form queries are the operator's own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use caretaker_shared::pg::{DbError, PgError, Session, quote_ident};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// The table exists (`schema.table` or `table` in `public`).
    TableExists { name: String, table: String },
    /// At least `min` rows.
    MinRows {
        name: String,
        table: String,
        min: i64,
    },
    /// `query` returns one timestamptz: the newest change. Its age relative to the snapshot time
    /// must not exceed the RPO target.
    Freshness { name: String, query: String },
    /// `query` returns one boolean that must be true.
    True { name: String, query: String },
}

impl Check {
    pub fn name(&self) -> &str {
        match self {
            Check::TableExists { name, .. }
            | Check::MinRows { name, .. }
            | Check::Freshness { name, .. }
            | Check::True { name, .. } => name,
        }
    }
}

pub fn parse(json: &str) -> Result<Vec<Check>, String> {
    let checks: Vec<Check> =
        serde_json::from_str(json).map_err(|e| format!("checks do not parse: {e}"))?;
    if checks.is_empty() {
        return Err("no checks configured: a restore test must prove something".into());
    }
    Ok(checks)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    pub duration_ms: u64,
}

fn qualified(table: &str) -> String {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Run one check. `snapshot_time` and `rpo_minutes` judge freshness.
pub async fn run(
    session: &Session,
    check: &Check,
    snapshot_time: DateTime<Utc>,
    rpo_minutes: i64,
) -> CheckResult {
    let started = std::time::Instant::now();
    let (passed, detail) = match evaluate(session, check, snapshot_time, rpo_minutes).await {
        Ok(v) => v,
        Err(e) => (false, format!("query failed: {e}")),
    };
    CheckResult {
        name: check.name().to_owned(),
        passed,
        detail,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

async fn evaluate(
    session: &Session,
    check: &Check,
    snapshot_time: DateTime<Utc>,
    rpo_minutes: i64,
) -> Result<(bool, String), DbError> {
    let c = session.client();
    let q = |e: PgError| session.error(&e);
    Ok(match check {
        Check::TableExists { table, .. } => {
            let (schema, name) = table.split_once('.').unwrap_or(("public", table));
            let row = c
                .query_one(
                    "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
                    &[&schema, &name],
                )
                .await
                .map_err(q)?;
            let exists: bool = row.get(0);
            (
                exists,
                if exists {
                    format!("{table} exists")
                } else {
                    format!("{table} is missing")
                },
            )
        }
        Check::MinRows { table, min, .. } => {
            let row = c
                .query_one(&format!("SELECT count(*) FROM {}", qualified(table)), &[])
                .await
                .map_err(q)?;
            let n: i64 = row.get(0);
            (n >= *min, format!("{n} rows (minimum {min})"))
        }
        Check::Freshness { query, .. } => {
            let row = c.query_one(query.as_str(), &[]).await.map_err(q)?;
            let newest: Option<DateTime<Utc>> = row.try_get(0).map_err(q)?;
            match newest {
                None => (false, "no rows: nothing to date the data by".into()),
                Some(t) => {
                    let age = (snapshot_time - t).num_minutes().max(0);
                    (
                        age <= rpo_minutes,
                        format!(
                            "newest change {t}, {age} min before the snapshot (RPO target {rpo_minutes} min)"
                        ),
                    )
                }
            }
        }
        Check::True { query, .. } => {
            let row = c.query_one(query.as_str(), &[]).await.map_err(q)?;
            let v: Option<bool> = row.try_get(0).map_err(q)?;
            (
                v == Some(true),
                format!("returned {}", v.map_or("null".into(), |b| b.to_string())),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse_with_clear_errors() {
        let c = parse(r#"[{"kind":"table_exists","name":"orders exist","table":"public.orders"},
                          {"kind":"min_rows","name":"orders","table":"orders","min":1000},
                          {"kind":"freshness","name":"recent","query":"select max(updated_at) from orders"},
                          {"kind":"true","name":"customers","query":"select count(*) > 0 from customers"}]"#)
        .unwrap();
        assert_eq!(c.len(), 4);
        assert!(parse("[]").unwrap_err().contains("no checks"));
        assert!(
            parse(r#"[{"kind":"min_rows","name":"x","table":"t"}]"#)
                .unwrap_err()
                .contains("min")
        );
    }

    #[test]
    fn table_names_are_quoted() {
        assert_eq!(qualified("orders"), r#""public"."orders""#);
        assert_eq!(qualified(r#"app.we"ird"#), r#""app"."we""ird""#);
    }
}
