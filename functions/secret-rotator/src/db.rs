//! The database side of a rotation: the rotator's secret as a login for the shared connector
//! (`caretaker_shared::pg`: TLS, timeouts, named root causes), and the SQL a rotation runs.
//! Passwords reach the server only as SCRAM-SHA-256 verifiers computed here.

pub use caretaker_shared::pg::{Connector, DbError, Login, Session};
use caretaker_shared::pg::{quote_ident, quote_literal};
use secrecy::{ExposeSecret, SecretString};

use crate::secret::DbSecret;

impl Login for DbSecret {
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn user(&self) -> &str {
        &self.username
    }
    fn password(&self) -> &SecretString {
        &self.password
    }
    fn dbname(&self) -> &str {
        &self.dbname
    }
    fn tls(&self) -> bool {
        self.ssl
    }
    fn tls_server_name(&self) -> Option<&str> {
        self.tls_server_name.as_deref()
    }
}

fn verifier(password: &SecretString) -> String {
    postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes())
}

pub async fn role_exists(session: &Session, role: &str) -> Result<bool, DbError> {
    let rows = session
        .timed(
            session
                .client()
                .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role]),
        )
        .await?;
    Ok(!rows.is_empty())
}

/// `ALTER ROLE … PASSWORD '<SCRAM verifier>'`: the server stores the verifier as given; the
/// plaintext never leaves this process.
pub async fn set_password(
    session: &Session,
    role: &str,
    password: &SecretString,
) -> Result<(), DbError> {
    session
        .execute(&format!(
            "ALTER ROLE {} WITH PASSWORD {}",
            quote_ident(role),
            quote_literal(&verifier(password))
        ))
        .await
}

/// Alternating users: make `clone` a login role with `original`'s privileges that acts as
/// `original` (`SET ROLE` by default), so objects either creates stay accessible to both.
/// Safe to repeat: it creates what is missing and re-asserts the rest. `true` if created.
pub async fn ensure_clone(
    session: &Session,
    original: &str,
    clone: &str,
    password: &SecretString,
) -> Result<bool, DbError> {
    let created = if role_exists(session, clone).await? {
        set_password(session, clone, password).await?;
        false
    } else {
        session
            .execute(&format!(
                "CREATE ROLE {} WITH LOGIN INHERIT PASSWORD {}",
                quote_ident(clone),
                quote_literal(&verifier(password))
            ))
            .await?;
        true
    };
    let (o, c) = (quote_ident(original), quote_ident(clone));
    session.execute(&format!("GRANT {o} TO {c}")).await?;
    session
        .execute(&format!(
            "ALTER ROLE {c} SET role = {}",
            quote_literal(original)
        ))
        .await?;
    Ok(created)
}
