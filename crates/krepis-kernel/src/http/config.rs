//! Server options: defaults and validation of what TypeScript asked for.

use std::sync::Arc;
use std::time::Duration;

use super::static_files::StaticFiles;
use super::static_files::cache::{self, CacheLimits};
use crate::proto::ServeOptions;
use crate::{KernelError, Result};

/// Default largest request head (64 KiB: what `Deno.serve` accepts).
pub const DEFAULT_MAX_HEADER_SIZE: usize = 64 * 1024;
/// Most header fields in an HTTP/1 request head (128, as `Deno.serve` accepts).
pub const MAX_HEADERS: usize = 128;
/// Smallest head limit hyper (HTTP/2) accepts.
pub const MIN_MAX_HEADER_SIZE: usize = 8 * 1024;
/// Largest head limit: `deno_http_h1`, which reads HTTP/1.1 heads, refuses heads past
/// 64 KiB whatever the limit says.
pub const MAX_MAX_HEADER_SIZE: usize = 64 * 1024;
/// Default largest request body (64 MiB).
pub const DEFAULT_MAX_BODY_SIZE: u64 = 64 * 1024 * 1024;
/// Default size up to which bodies are handed over whole (8 MiB).
pub const DEFAULT_BUFFER_BODY_LIMIT: u64 = 8 * 1024 * 1024;
/// Default budget for a request until its response head (5 minutes).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Default time a connection may sit idle (30 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default longest pause within a request body, and grace period of the rate (30 s).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default minimum average rate of a request body (256 bytes/s).
pub const DEFAULT_MIN_BODY_RATE: u64 = 256;
/// Default ceiling on buffered request and response bytes (256 MiB).
pub const DEFAULT_MAX_BUFFERED_MEMORY: u64 = 256 * 1024 * 1024;
/// Option value meaning "none" where 0 means "default".
pub const NONE: u64 = u64::MAX;
/// Largest static cache a server may ask for (1 TiB: past any real memory).
pub const MAX_STATIC_CACHE_BYTES: u64 = 1 << 40;
/// Shortest settle time of the static cache (100 ms): a change within one file-system
/// timestamp tick of the read must never look like the cached version.
pub const MIN_STATIC_CACHE_SETTLE_MS: u64 = 100;
/// Longest settle time of the static cache (one day).
pub const MAX_STATIC_CACHE_SETTLE_MS: u64 = 86_400_000;

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
    /// Budget for a whole request (until its response head), if any.
    pub request_timeout: Option<Duration>,
    /// How long a connection may sit idle before it is closed.
    pub idle_timeout: Duration,
    /// Longest pause within a request body, and grace period before `min_body_rate`.
    pub body_timeout: Duration,
    /// Minimum average request body rate in bytes/s (0: none).
    pub min_body_rate: u64,
    /// Ceiling on bytes held for buffered request bodies and unsent response data.
    pub max_buffered_memory: u64,
    /// Whether responses are compressed automatically.
    pub compression: bool,
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
            n if n > MAX_MAX_HEADER_SIZE => {
                return Err(KernelError::invalid(format!(
                    "maxHeaderSize must be at most {MAX_MAX_HEADER_SIZE} bytes (the HTTP/1.1 \
                     parser's fixed head limit), got {n}"
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
            request_timeout: match options.request_timeout_ms {
                0 => Some(DEFAULT_REQUEST_TIMEOUT),
                NONE => None,
                ms => Some(Duration::from_millis(ms)),
            },
            idle_timeout: millis_or(options.idle_timeout_ms, DEFAULT_IDLE_TIMEOUT),
            body_timeout: millis_or(options.body_timeout_ms, DEFAULT_BODY_TIMEOUT),
            min_body_rate: match options.min_body_rate {
                0 => DEFAULT_MIN_BODY_RATE,
                NONE => 0,
                rate => rate,
            },
            max_buffered_memory: match options.max_buffered_memory {
                0 => DEFAULT_MAX_BUFFERED_MEMORY,
                n => n,
            },
            compression: !options.no_compression,
            threads,
            buffer_body_limit,
            static_files: StaticFiles::from_mounts(
                &options.static_mounts,
                static_cache_limits(options)?,
            )?
            .map(Arc::new),
        })
    }
}

/// The static cache's limits from the `static_cache_*` options (0: default; a total of
/// [`NONE`]: the cache is off).
fn static_cache_limits(options: &ServeOptions) -> Result<CacheLimits> {
    let total = match options.static_cache_max_bytes {
        0 => cache::TOTAL_MAX as u64,
        NONE => 0,
        n if n > MAX_STATIC_CACHE_BYTES => {
            return Err(KernelError::invalid(format!(
                "staticCache.maxBytes must be at most {MAX_STATIC_CACHE_BYTES} bytes, got {n}"
            )));
        }
        n => n,
    };
    let file = match options.static_cache_max_file_bytes {
        0 => cache::FILE_MAX,
        n if total > 0 && n > total => {
            return Err(KernelError::invalid(format!(
                "staticCache.maxFileBytes ({n}) must not exceed staticCache.maxBytes ({total})"
            )));
        }
        n => n,
    };
    let settled = match options.static_cache_settle_ms {
        0 => cache::SETTLED,
        ms @ MIN_STATIC_CACHE_SETTLE_MS..=MAX_STATIC_CACHE_SETTLE_MS => Duration::from_millis(ms),
        ms => {
            return Err(KernelError::invalid(format!(
                "staticCache.settleMs must be between {MIN_STATIC_CACHE_SETTLE_MS} and \
                 {MAX_STATIC_CACHE_SETTLE_MS}, got {ms}"
            )));
        }
    };
    Ok(CacheLimits {
        total: usize::try_from(total)
            .map_err(|_| KernelError::invalid("staticCache.maxBytes does not fit in memory"))?,
        file,
        settled,
    })
}

fn millis_or(ms: u64, default: Duration) -> Duration {
    match ms {
        0 => default,
        ms => Duration::from_millis(ms),
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
        let large = ServeOptions {
            max_header_size: 64 * 1024 + 1,
            ..Default::default()
        };
        let err = ServerConfig::from_options(&large).unwrap_err().to_string();
        assert!(err.contains("at most 65536 bytes"), "{err}");
        let most = ServeOptions {
            max_header_size: 64 * 1024,
            ..Default::default()
        };
        assert!(ServerConfig::from_options(&most).is_ok());
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

    #[test]
    fn limits_have_defaults_and_can_be_lifted() {
        let config = ServerConfig::from_options(&ServeOptions::default()).unwrap();
        assert_eq!(config.request_timeout, Some(DEFAULT_REQUEST_TIMEOUT));
        assert_eq!(config.idle_timeout, DEFAULT_IDLE_TIMEOUT);
        assert_eq!(config.body_timeout, DEFAULT_BODY_TIMEOUT);
        assert_eq!(config.min_body_rate, DEFAULT_MIN_BODY_RATE);
        assert_eq!(config.max_buffered_memory, DEFAULT_MAX_BUFFERED_MEMORY);
        assert!(config.compression);
        let lifted = ServeOptions {
            request_timeout_ms: NONE,
            min_body_rate: NONE,
            idle_timeout_ms: 250,
            no_compression: true,
            ..Default::default()
        };
        let config = ServerConfig::from_options(&lifted).unwrap();
        assert_eq!(config.request_timeout, None);
        assert_eq!(config.min_body_rate, 0);
        assert_eq!(config.idle_timeout, Duration::from_millis(250));
        assert!(!config.compression);
    }

    #[test]
    fn the_static_cache_has_defaults_can_be_turned_off_and_refuses_bad_limits() {
        assert_eq!(
            static_cache_limits(&ServeOptions::default()).unwrap(),
            CacheLimits::default()
        );
        let off = ServeOptions {
            static_cache_max_bytes: NONE,
            static_cache_max_file_bytes: 1 << 30,
            ..Default::default()
        };
        assert_eq!(static_cache_limits(&off).unwrap().total, 0);
        let set = ServeOptions {
            static_cache_max_bytes: 4096,
            static_cache_max_file_bytes: 1024,
            static_cache_settle_ms: 250,
            ..Default::default()
        };
        let limits = static_cache_limits(&set).unwrap();
        assert_eq!(
            limits,
            CacheLimits {
                total: 4096,
                file: 1024,
                settled: Duration::from_millis(250)
            }
        );
        for (bad, message) in [
            (
                ServeOptions {
                    static_cache_max_bytes: MAX_STATIC_CACHE_BYTES + 1,
                    ..Default::default()
                },
                "staticCache.maxBytes must be at most",
            ),
            (
                ServeOptions {
                    static_cache_max_bytes: 1000,
                    static_cache_max_file_bytes: 1001,
                    ..Default::default()
                },
                "staticCache.maxFileBytes (1001) must not exceed staticCache.maxBytes (1000)",
            ),
            (
                ServeOptions {
                    static_cache_settle_ms: 99,
                    ..Default::default()
                },
                "staticCache.settleMs must be between 100 and 86400000, got 99",
            ),
            (
                ServeOptions {
                    static_cache_settle_ms: NONE,
                    ..Default::default()
                },
                "staticCache.settleMs must be between",
            ),
        ] {
            let err = ServerConfig::from_options(&bad).unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
    }
}
