//! What a `postgres://` URL asks for: the driver's connection settings, the TLS mode and
//! the queue lease.
//!
//! The driver (`tokio-postgres`) knows `sslmode=disable|prefer|require` only and no CA
//! file, so the TLS parameters are taken out of the URL here and given libpq's meaning:
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (default) | if the server offers TLS | no |
//! | `require` | yes | no (chain only when `sslrootcert` is given, as libpq) |
//! | `verify-ca` | yes | chain to `sslrootcert` |
//! | `verify-full` | yes | chain to `sslrootcert` and the host name |
//!
//! `connect_timeout` (seconds, libpq's name and meaning) bounds a whole login — TCP
//! connect, TLS handshake and authentication — where the driver would bound the TCP
//! connect only; unlike libpq the default is [`DEFAULT_CONNECT_TIMEOUT_S`] rather than no
//! limit (`connect_timeout=0`), so a server that accepts but never answers is a clear error.
//!
//! `krepis_lease_ms` (Krepis's own) sets how long a queue message stays with a listener
//! that stopped renewing it (default [`DEFAULT_LEASE_MS`]).

use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use postgres;

use crate::{KernelError, Result};

/// How long a delivered message stays with its listener after the last renewal.
pub const DEFAULT_LEASE_MS: u64 = 10_000;
/// How long a login may take when the URL does not say (`connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT_S: u64 = 10;

/// libpq's `sslmode` values (except `allow`, which would try plain text first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// TLS when the server offers it, certificate not checked.
    Prefer,
    /// TLS always, certificate not checked (unless a CA file is given).
    Require,
    /// TLS with a certificate chaining to the CA file.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host connected to.
    VerifyFull,
}

/// A parsed store URL.
pub struct Settings {
    /// The driver's settings (host, port, user, database, `sslmode` as the driver knows it).
    pub driver: postgres::Config,
    /// The TLS mode asked for.
    pub ssl_mode: SslMode,
    /// The CA file (`sslrootcert`).
    pub root_cert: Option<PathBuf>,
    /// The queue lease in milliseconds.
    pub lease_ms: u64,
    /// How long a login may take (`None`: no limit).
    pub login_timeout: Option<Duration>,
}

fn invalid(message: impl std::fmt::Display) -> KernelError {
    KernelError::invalid(format!("invalid PostgreSQL URL: {message}"))
}

impl Settings {
    /// Parses `url` (`postgres://user:password@host:port/db?sslmode=…&sslrootcert=…`).
    pub fn parse(url: &str) -> Result<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut ssl_mode = SslMode::Prefer;
        let mut root_cert = None;
        let mut lease_ms = DEFAULT_LEASE_MS;
        let mut timeout_s = DEFAULT_CONNECT_TIMEOUT_S;
        let mut passed = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| invalid(format!("{name} is not UTF-8")))?;
            match name {
                "sslmode" => {
                    ssl_mode = match &*value {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(invalid(format!(
                                "sslmode={other} (use disable, prefer, require, verify-ca or verify-full)"
                            )));
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(&*value)),
                "krepis_lease_ms" => {
                    lease_ms = value
                        .parse()
                        .ok()
                        .filter(|ms| (100..=3_600_000).contains(ms))
                        .ok_or_else(|| {
                            invalid(format!(
                                "krepis_lease_ms={value} (milliseconds, 100 to 3600000)"
                            ))
                        })?;
                }
                "connect_timeout" => {
                    timeout_s = value.parse().map_err(|_| {
                        invalid(format!(
                            "connect_timeout={value} (whole seconds, 0 for no limit)"
                        ))
                    })?;
                }
                _ => passed.push(pair),
            }
        }
        if matches!(ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull) && root_cert.is_none() {
            return Err(invalid(
                "sslmode=verify-ca and verify-full need sslrootcert=<CA file>",
            ));
        }
        let driver_url = if passed.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", passed.join("&"))
        };
        let mut driver: postgres::Config = driver_url.parse().map_err(invalid)?;
        driver.ssl_mode(match ssl_mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        let login_timeout = (timeout_s > 0).then(|| Duration::from_secs(timeout_s));
        if let Some(limit) = login_timeout {
            driver.connect_timeout(limit);
        }
        Ok(Self {
            driver,
            ssl_mode,
            root_cert,
            lease_ms,
            login_timeout,
        })
    }

    /// `host:port` for messages.
    pub fn server(&self) -> String {
        match (
            self.driver.get_hosts().first(),
            self.driver.get_ports().first(),
        ) {
            (Some(postgres::config::Host::Tcp(host)), port) => {
                format!("{host}:{}", port.copied().unwrap_or(5432))
            }
            _ => "the configured server".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_and_lease_parameters_are_taken_out_of_the_driver_url() {
        let s = Settings::parse(
            "postgres://u:p@db.example:6543/app?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20x.pem&application_name=a&krepis_lease_ms=2500&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(s.login_timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            s.driver.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(s.ssl_mode, SslMode::VerifyFull);
        assert_eq!(s.root_cert, Some(PathBuf::from("/tmp/ca x.pem")));
        assert_eq!(s.lease_ms, 2500);
        assert_eq!(s.server(), "db.example:6543");
        assert_eq!(s.driver.get_application_name(), Some("a"));
        assert_eq!(s.driver.get_ssl_mode(), postgres::config::SslMode::Require);
        let plain = Settings::parse("postgres://u@h/db").unwrap();
        assert_eq!(
            (plain.ssl_mode, plain.lease_ms, plain.login_timeout),
            (
                SslMode::Prefer,
                DEFAULT_LEASE_MS,
                Some(Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_S))
            )
        );
        let unbounded = Settings::parse("postgres://u@h/db?connect_timeout=0").unwrap();
        assert_eq!(unbounded.login_timeout, None);
    }

    #[test]
    fn bad_tls_and_lease_parameters_are_clear_errors() {
        for (url, expect) in [
            ("postgres://u@h/db?sslmode=allow", "sslmode=allow"),
            ("postgres://u@h/db?sslmode=verify-full", "need sslrootcert"),
            ("postgres://u@h/db?krepis_lease_ms=5", "krepis_lease_ms=5"),
            ("postgres://u@h/db?connect_timeout=-1", "connect_timeout=-1"),
            (
                "postgres://u@h/db?connect_timeout=1.5",
                "connect_timeout=1.5",
            ),
            ("postgres://u@h/db?nonsense=1", "invalid PostgreSQL URL"),
        ] {
            let Err(e) = Settings::parse(url) else {
                panic!("{url} was accepted")
            };
            assert!(e.to_string().contains(expect), "{url}: {e}");
        }
    }
}
