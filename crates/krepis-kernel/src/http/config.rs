//! Server options: defaults and validation of what TypeScript asked for.

use std::sync::Arc;
use std::time::Duration;

use super::static_files::StaticFiles;
use crate::proto::ServeOptions;
use crate::{KernelError, Result};

/// Default largest request head (16 KiB).
pub const DEFAULT_MAX_HEADER_SIZE: usize = 16 * 1024;
/// Smallest head limit hyper accepts.
pub const MIN_MAX_HEADER_SIZE: usize = 8 * 1024;
/// Default largest request body (64 MiB).
pub const DEFAULT_MAX_BODY_SIZE: u64 = 64 * 1024 * 1024;
/// Default size up to which bodies are handed over whole (8 MiB).
pub const DEFAULT_BUFFER_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// Validated settings of one server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Interface to bind.
    pub hostname: String,
    /// Port to bind (0: ephemeral).
    pub port: u16,
    /// PEM certificate chain and key, when serving TLS.
    pub tls: Option<(String, String)>,
    /// Largest request head in bytes.
    pub max_header_size: usize,
    /// Largest request body in bytes.
    pub max_body_size: u64,
    /// Budget for a whole request, if any.
    pub request_timeout: Option<Duration>,
    /// Worker threads of the runtime.
    pub threads: usize,
    /// Bodies up to this size are buffered in kernel memory and lent whole.
    pub buffer_body_limit: u64,
    /// Directories the kernel serves by itself, if any.
    pub static_files: Option<Arc<StaticFiles>>,
}

impl ServerConfig {
    /// Applies defaults and checks every field of `options`.
    ///
    /// ```
    /// use krepis_kernel::http::ServerConfig;
    /// use krepis_kernel::proto::ServeOptions;
    /// let config = ServerConfig::from_options(&ServeOptions::default()).unwrap();
    /// assert_eq!(config.hostname, "0.0.0.0");
    /// let bad = ServeOptions { port: 70000, ..Default::default() };
    /// assert!(ServerConfig::from_options(&bad).is_err());
    /// ```
    pub fn from_options(options: &ServeOptions) -> Result<Self> {
        let port = u16::try_from(options.port)
            .map_err(|_| KernelError::invalid(format!("port {} is out of range", options.port)))?;
        let tls = match (options.cert_pem.is_empty(), options.key_pem.is_empty()) {
            (true, true) => None,
            (false, false) => Some((options.cert_pem.clone(), options.key_pem.clone())),
            _ => {
                return Err(KernelError::invalid(
                    "tls needs both a certificate and a key",
                ));
            }
        };
        let max_header_size = match options.max_header_size as usize {
            0 => DEFAULT_MAX_HEADER_SIZE,
            n if n < MIN_MAX_HEADER_SIZE => {
                return Err(KernelError::invalid(format!(
                    "maxHeaderSize must be at least {MIN_MAX_HEADER_SIZE} bytes, got {n}"
                )));
            }
            n => n,
        };
        let max_body_size = match options.max_body_size {
            0 => DEFAULT_MAX_BODY_SIZE,
            n => n,
        };
        let buffer_body_limit = match options.buffer_body_limit {
            0 => DEFAULT_BUFFER_BODY_LIMIT,
            n => n,
        }
        .min(max_body_size);
        let threads = match options.threads {
            0 => 1,
            n @ 1..=64 => n as usize,
            n => {
                return Err(KernelError::invalid(format!(
                    "threads must be between 1 and 64, got {n}"
                )));
            }
        };
        Ok(Self {
            hostname: if options.hostname.is_empty() {
                "0.0.0.0".into()
            } else {
                options.hostname.clone()
            },
            port,
            tls,
            max_header_size,
            max_body_size,
            request_timeout: (options.request_timeout_ms > 0)
                .then(|| Duration::from_millis(options.request_timeout_ms)),
            threads,
            buffer_body_limit,
            static_files: StaticFiles::from_mounts(&options.static_mounts)?.map(Arc::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        let small = ServeOptions {
            max_header_size: 100,
            ..Default::default()
        };
        let err = ServerConfig::from_options(&small).unwrap_err().to_string();
        assert!(err.contains("maxHeaderSize"), "{err}");
        let half_tls = ServeOptions {
            cert_pem: "x".into(),
            ..Default::default()
        };
        assert!(ServerConfig::from_options(&half_tls).is_err());
        let threads = ServeOptions {
            threads: 1000,
            ..Default::default()
        };
        assert!(ServerConfig::from_options(&threads).is_err());
    }

    #[test]
    fn the_buffer_limit_never_exceeds_the_body_limit() {
        let options = ServeOptions {
            max_body_size: 10,
            request_timeout_ms: 5,
            ..Default::default()
        };
        let config = ServerConfig::from_options(&options).unwrap();
        assert_eq!(config.buffer_body_limit, 10);
        assert_eq!(config.request_timeout, Some(Duration::from_millis(5)));
    }
}
