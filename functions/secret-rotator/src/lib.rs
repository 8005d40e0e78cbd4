//! secret-rotator: Secrets Manager rotation of RDS PostgreSQL credentials, single user or
//! alternating users, following the protocol of AWS's reference rotation functions and fixing
//! what their users report (verified TLS, client-side SCRAM, named root causes, timeouts,
//! `SET ROLE`-compatible clones).

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod handler;
pub mod secret;
pub mod store;

pub use config::RotatorConfig;
pub use error::RotatorError;

/// Built once per cold start.
pub struct Deps {
    pub store: store::SecretStore,
    pub rds: aws_sdk_rds::Client,
    pub connector: db::Connector,
    pub config: RotatorConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, RotatorError> {
        let config = RotatorConfig::from_env(&caretaker_shared::config::ProcessEnv)?;
        let sdk = caretaker_shared::aws::load().await;
        Self::new(&sdk, config)
    }

    pub fn new(sdk: &aws_config::SdkConfig, config: RotatorConfig) -> Result<Self, RotatorError> {
        let connector = db::Connector::new(
            &config.ca_bundle_pem,
            config.connect_timeout,
            config.query_timeout,
        )
        .map_err(|source| RotatorError::Database {
            what: "loading the CA bundle".into(),
            source,
        })?;
        Ok(Deps {
            store: store::SecretStore::new(aws_sdk_secretsmanager::Client::new(sdk)),
            rds: aws_sdk_rds::Client::new(sdk),
            connector,
            config,
        })
    }
}
