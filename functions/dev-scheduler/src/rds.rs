//! RDS calls: the account's instances and Aurora clusters as one [`Database`] type, and the stop
//! or start of either.

use aws_sdk_rds::Client;
use aws_sdk_rds::error::SdkError;
use caretaker_shared::aws::{AwsError, aws_err};
use caretaker_shared::report::Outcome;
use caretaker_shared::tag_map;

use crate::domain::{Database, DbBilling, DbKind, instance_ineligible};

pub(crate) async fn instances(rds: &Client) -> Result<Vec<Database>, AwsError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err::<_, _, AwsError>("rds", "DescribeDBInstances"))?;
        for i in page.db_instances.unwrap_or_default() {
            let replicas = i.read_replica_db_instance_identifiers.unwrap_or_default();
            out.push(Database {
                kind: DbKind::Instance,
                id: i.db_instance_identifier.unwrap_or_default(),
                status: i.db_instance_status.unwrap_or_default(),
                tags: tag_map(
                    i.tag_list
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| (t.key, t.value)),
                ),
                ineligible: instance_ineligible(
                    i.read_replica_source_db_instance_identifier.is_some(),
                    !replicas.is_empty(),
                    i.db_cluster_identifier.is_some(),
                ),
                billing: DbBilling {
                    class: i.db_instance_class,
                    engine: i.engine.unwrap_or_default(),
                    multi_az: i.multi_az.unwrap_or(false),
                    members: Vec::new(),
                    storage_gb: i.allocated_storage,
                    storage_type: i.storage_type,
                },
            });
        }
    }
    Ok(out)
}

pub(crate) async fn clusters(rds: &Client) -> Result<Vec<Database>, AwsError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(aws_err::<_, _, AwsError>("rds", "DescribeDBClusters"))?;
        for c in page.db_clusters.unwrap_or_default() {
            out.push(Database {
                kind: DbKind::Cluster,
                id: c.db_cluster_identifier.unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                tags: tag_map(
                    c.tag_list
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| (t.key, t.value)),
                ),
                ineligible: None,
                billing: DbBilling {
                    class: None,
                    engine: c.engine.unwrap_or_default(),
                    multi_az: c.multi_az.unwrap_or(false),
                    members: c
                        .db_cluster_members
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|m| m.db_instance_identifier)
                        .collect(),
                    storage_gb: None,
                    storage_type: None,
                },
            });
        }
    }
    Ok(out)
}

/// Start (`up`) or stop a database. A state that does not allow it now (RDS's
/// `InvalidDB…StateFault`) is skipped for the next run, anything else fails with its cause.
pub(crate) async fn set_running(rds: &Client, db: &Database, up: bool) -> Outcome {
    let id = db.id.as_str();
    let result = match (db.kind, up) {
        (DbKind::Instance, false) => settle(
            rds.stop_db_instance()
                .db_instance_identifier(id)
                .send()
                .await,
            |e| e.is_invalid_db_instance_state_fault(),
        ),
        (DbKind::Instance, true) => settle(
            rds.start_db_instance()
                .db_instance_identifier(id)
                .send()
                .await,
            |e| e.is_invalid_db_instance_state_fault(),
        ),
        (DbKind::Cluster, false) => settle(
            rds.stop_db_cluster().db_cluster_identifier(id).send().await,
            |e| e.is_invalid_db_cluster_state_fault(),
        ),
        (DbKind::Cluster, true) => settle(
            rds.start_db_cluster()
                .db_cluster_identifier(id)
                .send()
                .await,
            |e| e.is_invalid_db_cluster_state_fault(),
        ),
    };
    match (result, up) {
        (Ok(true), true) => Outcome::changed("started"),
        (Ok(true), false) => Outcome::changed("stopped"),
        (Ok(false), true) => {
            Outcome::skipped("not in a startable state now: the next reconcile retries")
        }
        (Ok(false), false) => {
            Outcome::skipped("not in a stoppable state now: the next reconcile retries")
        }
        (Err(e), _) => Outcome::failed(e),
    }
}

/// `Ok(true)` done, `Ok(false)` refused for the state it is in, `Err` the cause.
fn settle<T, E, R>(
    res: Result<T, SdkError<E, R>>,
    transitional: impl FnOnce(&E) -> bool,
) -> Result<bool, String>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match caretaker_shared::aws::tolerate(res, transitional) {
        Ok(done) => Ok(done.is_some()),
        Err(e) => Err(caretaker_shared::error::chain(&e)),
    }
}

/// Why a database was found away from its schedule, from its RDS events of the last day:
/// RDS's own start after 7 days stopped is named as such; otherwise the latest event is quoted.
/// A failed lookup says so; it never fails the run.
pub(crate) async fn drift_cause(
    rds: &Client,
    db: &Database,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let source = match db.kind {
        DbKind::Instance => aws_sdk_rds::types::SourceType::DbInstance,
        DbKind::Cluster => aws_sdk_rds::types::SourceType::DbCluster,
    };
    let events = rds
        .describe_events()
        .source_type(source)
        .source_identifier(&db.id)
        .start_time(aws_sdk_rds::primitives::DateTime::from_secs(
            (now - chrono::TimeDelta::days(1)).timestamp(),
        ))
        .end_time(aws_sdk_rds::primitives::DateTime::from_secs(
            now.timestamp(),
        ))
        .send()
        .await;
    match events {
        Err(e) => format!(
            "unknown (RDS events unreadable: {})",
            caretaker_shared::error::chain(&aws_err::<_, _, AwsError>("rds", "DescribeEvents")(e))
        ),
        Ok(out) => crate::domain::drift_cause(
            out.events
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e.message.as_deref()),
        ),
    }
}
