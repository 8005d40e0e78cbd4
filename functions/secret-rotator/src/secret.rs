//! The secret's JSON, as the reference functions define it. Unknown keys are kept untouched when
//! a new version is written. The password is held as a `SecretString`, so `Debug` never shows it.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

#[derive(Clone)]
pub struct DbSecret {
    raw: Map<String, Value>,
    pub engine: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub dbname: String,
    pub ssl: bool,
    pub masterarn: Option<String>,
    /// Caretaker extension: the name to verify the server certificate against when `host` is a
    /// CNAME (e.g. `db.internal.example.com` → the RDS endpoint).
    pub tls_server_name: Option<String>,
    /// `dbInstanceIdentifier` / `dbClusterIdentifier`, as the secrets RDS and its console
    /// create carry them: the database whose status says whether it can be reached at all.
    pub db_instance: Option<String>,
    pub db_cluster: Option<String>,
}

impl std::fmt::Debug for DbSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSecret")
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("dbname", &self.dbname)
            .field("ssl", &self.ssl)
            .finish()
    }
}

/// What is wrong with a secret's JSON (never its values).
pub type Problem = String;

fn text(raw: &Map<String, Value>, key: &str) -> Result<Option<String>, Problem> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    }
}

fn required(raw: &Map<String, Value>, key: &str) -> Result<String, Problem> {
    text(raw, key)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("\"{key}\" is missing"))
}

impl DbSecret {
    /// Parse a full database secret (engine, host, username, password ...).
    pub fn parse(json: &str) -> Result<Self, Problem> {
        let raw = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("it is not a JSON object".into()),
            Err(_) => return Err("it is not valid JSON".into()),
        };
        let engine = text(&raw, "engine")?.unwrap_or_else(|| "postgres".into());
        if engine != "postgres" && engine != "aurora-postgresql" {
            return Err(format!(
                "\"engine\" is {engine:?}; this function rotates postgres and aurora-postgresql"
            ));
        }
        Self::parse_with(raw, engine)
    }

    fn parse_with(raw: Map<String, Value>, engine: String) -> Result<Self, Problem> {
        let host = required(&raw, "host")?;
        let port = match raw.get("port") {
            None | Some(Value::Null) => 5432,
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or("\"port\" must be a number from 1 to 65535")?,
            Some(Value::String(s)) => s
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("\"port\" must be a number from 1 to 65535")?,
            Some(_) => return Err("\"port\" must be a number from 1 to 65535".into()),
        };
        let username = required(&raw, "username")?;
        if username.len() > 63 {
            return Err("\"username\" is longer than PostgreSQL's 63 bytes".into());
        }
        let password = SecretString::from(required(&raw, "password")?);
        let dbname = text(&raw, "dbname")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "postgres".into());
        let ssl = match raw.get("ssl") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => {
                caretaker_shared::config::parse_bool(s).ok_or("\"ssl\" must be true or false")?
            }
            Some(_) => return Err("\"ssl\" must be true or false".into()),
        };
        let masterarn = text(&raw, "masterarn")?.filter(|s| !s.is_empty());
        let tls_server_name = text(&raw, "tls_server_name")?.filter(|s| !s.is_empty());
        let identifier = |key: &str| -> Result<Option<String>, Problem> {
            match text(&raw, key)?.filter(|s| !s.is_empty()) {
                Some(id) if !crate::domain::valid_db_identifier(&id) => Err(format!(
                    "\"{key}\" is not an RDS identifier (1-63 letters, digits and hyphens)"
                )),
                id => Ok(id),
            }
        };
        let db_instance = identifier("dbInstanceIdentifier")?;
        let db_cluster = identifier("dbClusterIdentifier")?;
        Ok(DbSecret {
            raw,
            engine,
            host,
            port,
            username,
            password,
            dbname,
            ssl,
            masterarn,
            tls_server_name,
            db_instance,
            db_cluster,
        })
    }

    /// The RDS database behind the secret: named by the secret, or read from an RDS endpoint
    /// host (`<id>.<hash>.<region>.rds.amazonaws.com`, `<id>.cluster-<hash>...` for Aurora).
    /// `None` for a host that is not an RDS endpoint (a CNAME, a proxy, a local server).
    pub fn database(&self) -> Option<crate::domain::Database> {
        use crate::domain::Database;
        if let Some(id) = &self.db_cluster {
            return Some(Database::Cluster(id.clone()));
        }
        if let Some(id) = &self.db_instance {
            return Some(Database::Instance(id.clone()));
        }
        Database::from_endpoint(&self.host)
    }

    /// A master secret: either the full shape, or the RDS-managed shape with only `username`
    /// and `password`, whose host and port come from `endpoint` (looked up by the caller).
    pub fn parse_master(json: &str) -> Result<MasterSecret, Problem> {
        let raw = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(m)) => m,
            _ => return Err("it is not a JSON object".into()),
        };
        if raw.get("host").is_some() {
            return Self::parse(json).map(MasterSecret::Full);
        }
        Ok(MasterSecret::CredentialsOnly {
            username: required(&raw, "username")?,
            password: SecretString::from(required(&raw, "password")?),
        })
    }

    /// The JSON of a new version: every key kept, username and password replaced.
    pub fn to_json_with(&self, username: &str, password: &SecretString) -> String {
        let mut raw = self.raw.clone();
        raw.insert("username".into(), Value::String(username.to_owned()));
        raw.insert(
            "password".into(),
            Value::String(password.expose_secret().to_owned()),
        );
        Value::Object(raw).to_string()
    }

    /// Same connection settings, other credentials (used to log in as the master).
    pub fn with_credentials(&self, username: &str, password: &SecretString) -> DbSecret {
        DbSecret {
            username: username.to_owned(),
            password: password.clone(),
            ..self.clone()
        }
    }
}

pub enum MasterSecret {
    Full(DbSecret),
    CredentialsOnly {
        username: String,
        password: SecretString,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"engine":"postgres","host":"db.example","port":"6543","username":"app",
        "password":"pw","dbname":"shop","ssl":"false","proxy":"keep-me"}"#;

    #[test]
    fn parses_reference_shape_with_string_port_and_ssl() {
        let s = DbSecret::parse(GOOD).unwrap();
        assert_eq!((s.port, s.ssl, s.dbname.as_str()), (6543, false, "shop"));
    }

    #[test]
    fn defaults_port_dbname_and_tls() {
        let s = DbSecret::parse(
            r#"{"engine":"aurora-postgresql","host":"h","username":"u","password":"p"}"#,
        )
        .unwrap();
        assert_eq!((s.port, s.ssl, s.dbname.as_str()), (5432, true, "postgres"));
    }

    #[test]
    fn new_version_keeps_unknown_keys() {
        let s = DbSecret::parse(GOOD).unwrap();
        let out: Value =
            serde_json::from_str(&s.to_json_with("app_clone", &SecretString::from("new"))).unwrap();
        assert_eq!(out["proxy"], "keep-me");
        assert_eq!(out["username"], "app_clone");
        assert_eq!(out["password"], "new");
        assert_eq!(out["port"], "6543");
    }

    #[test]
    fn malformed_secrets_say_what_is_wrong_without_values() {
        for (json, expect) in [
            (
                r#"{"engine":"mysql","host":"h","username":"u","password":"p"}"#,
                "engine",
            ),
            (
                r#"{"engine":"postgres","username":"u","password":"hunter2"}"#,
                "\"host\" is missing",
            ),
            (
                r#"{"engine":"postgres","host":"h","port":"99999","username":"u","password":"hunter2"}"#,
                "port",
            ),
            (
                r#"{"engine":"postgres","host":"h","port":true,"username":"u","password":"hunter2"}"#,
                "port",
            ),
            (
                r#"{"engine":"postgres","host":"h","username":"u"}"#,
                "\"password\" is missing",
            ),
            ("hunter2", "not valid JSON"),
        ] {
            let err = DbSecret::parse(json).unwrap_err();
            assert!(err.contains(expect), "{json}: {err}");
            assert!(!err.contains("hunter2"));
        }
    }

    #[test]
    fn the_database_comes_from_the_secret_or_its_rds_endpoint() {
        use crate::domain::Database;
        let with = |extra: &str, host: &str| {
            DbSecret::parse(&format!(
                r#"{{"host":"{host}","username":"u","password":"p"{extra}}}"#
            ))
        };
        let named = with(r#","dbInstanceIdentifier":"innovate-dev-db""#, "localhost").unwrap();
        assert_eq!(
            named.database(),
            Some(Database::Instance("innovate-dev-db".into()))
        );
        let endpoint = with("", "innovate-dev-db.c9akciq32.us-east-1.rds.amazonaws.com").unwrap();
        assert_eq!(
            endpoint.database(),
            Some(Database::Instance("innovate-dev-db".into()))
        );
        let cluster = with(
            "",
            "innovate-aurora.cluster-c9akciq32.us-east-1.rds.amazonaws.com",
        )
        .unwrap();
        assert_eq!(
            cluster.database(),
            Some(Database::Cluster("innovate-aurora".into()))
        );
        assert_eq!(
            with("", "db.internal.example.com").unwrap().database(),
            None
        );
        let err = with(r#","dbInstanceIdentifier":"a;drop""#, "h")
            .err()
            .unwrap();
        assert!(err.contains("dbInstanceIdentifier"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = DbSecret::parse(GOOD).unwrap();
        assert!(!format!("{s:?}").contains("\"pw\""));
    }

    #[test]
    fn rds_managed_master_secret_has_only_credentials() {
        assert!(matches!(
            DbSecret::parse_master(r#"{"username":"postgres","password":"p"}"#).unwrap(),
            MasterSecret::CredentialsOnly { .. }
        ));
        assert!(matches!(
            DbSecret::parse_master(GOOD).unwrap(),
            MasterSecret::Full(_)
        ));
    }
}
