//! Typed configuration, read once per cold start.

use std::time::Duration;

use caretaker_shared::config::{Common, ConfigError, Env, Source};

use crate::checks::{self, Check};

#[derive(Debug, Clone)]
pub struct RestoreConfig {
    pub common: Common,
    /// Isolated subnet group and security group for the throwaway instance.
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub instance_class: String,
    pub checks: Vec<Check>,
    /// Where the evidence goes (`EVIDENCE_BUCKET`).
    pub evidence_bucket: Option<String>,
    pub rpo_target_minutes: i64,
    pub rto_target_minutes: i64,
    /// Past this, a run fails, cleans up and says so (`MAX_DURATION_MINUTES`, default 180).
    pub max_duration: Duration,
    /// Leftovers expire this long after their run starts (`EXPIRY_HOURS`, default 6).
    pub expiry: Duration,
    pub ca_bundle_pem: String,
    /// Local runs only: verify against this host and port instead of the restored endpoint,
    /// which the emulator cannot serve (`VERIFY_HOST_OVERRIDE`, `VERIFY_PORT_OVERRIDE`).
    pub verify_host_override: Option<(String, u16)>,
}

pub const DEFAULT_CHECKS: &str = r#"[
  {"kind": "table_exists", "name": "orders table exists", "table": "public.orders"},
  {"kind": "min_rows", "name": "orders has data", "table": "public.orders", "min": 1},
  {"kind": "freshness", "name": "orders are recent", "query": "SELECT max(updated_at) FROM public.orders"}
]"#;

impl RestoreConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env::new(source);
        let mut common = Common::from_env(&env)?;
        // Reading prod snapshots is this function's job; it creates only its own tagged instance.
        common.allow_prod = true;
        let checks = checks::parse(
            &env.optional("CHECKS")
                .unwrap_or_else(|| DEFAULT_CHECKS.into()),
        )
        .map_err(|_| ConfigError::Invalid {
            name: "CHECKS".into(),
            expected: "a JSON list of checks (see README)".into(),
        })?;
        let minutes = |name: &str, default: i64| env.parse_or(name, default, "whole minutes");
        let ca_bundle_pem = match env.optional("RDS_CA_BUNDLE") {
            None => caretaker_shared::pg::RDS_CA_BUNDLE.to_owned(),
            Some(path) => std::fs::read_to_string(&path).map_err(|_| ConfigError::Invalid {
                name: "RDS_CA_BUNDLE".into(),
                expected: "a readable PEM file".into(),
            })?,
        };
        let verify_host_override = match env.optional("VERIFY_HOST_OVERRIDE") {
            None => None,
            Some(h) => Some((
                h,
                env.parse_or("VERIFY_PORT_OVERRIDE", 5432u16, "a port number")?,
            )),
        };
        Ok(RestoreConfig {
            common,
            subnet_group: env.optional("RESTORE_SUBNET_GROUP"),
            security_groups: env.list("RESTORE_SECURITY_GROUPS").into_iter().collect(),
            instance_class: env
                .optional("RESTORE_INSTANCE_CLASS")
                .unwrap_or_else(|| "db.t4g.micro".into()),
            checks,
            evidence_bucket: env.optional("EVIDENCE_BUCKET"),
            rpo_target_minutes: minutes("RPO_TARGET_MINUTES", 1440)?,
            rto_target_minutes: minutes("RTO_TARGET_MINUTES", 120)?,
            max_duration: Duration::from_secs(60 * minutes("MAX_DURATION_MINUTES", 180)? as u64),
            expiry: Duration::from_secs(3600 * env.parse_or("EXPIRY_HOURS", 6u64, "whole hours")?),
            ca_bundle_pem,
            verify_host_override,
        })
    }
}
