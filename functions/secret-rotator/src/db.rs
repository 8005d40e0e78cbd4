//! PostgreSQL access lives in the shared crate (`caretaker_shared::pg`); this module connects the
//! rotator's secret type to it.

pub use caretaker_shared::pg::{Connector, DbError, Login, Session};
use secrecy::SecretString;

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
