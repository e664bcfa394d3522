//! TLS 1.3 for KNUL: the server's config (ALPN `knul/1`, early data on, optional client
//! certificates) and the client's (trusted CAs, optional client certificate, early data).

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use super::frame::ALPN;
use crate::http::tls::{parse_certs, parse_pem};
use crate::proto::{KnulConnectOptions, KnulServeOptions};
use crate::{KernelError, Result};

/// Idle time after which a connection is considered lost.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// Keep-alive interval of clients, so a vanished server is noticed within the idle timeout.
pub const KEEP_ALIVE: Duration = Duration::from_millis(1500);
/// Concurrent call streams a peer may open on one connection.
pub const MAX_STREAMS: u32 = 1024;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(pem: &str, what: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(pem, what)? {
        roots
            .add(cert)
            .map_err(|e| KernelError::invalid(format!("{what}: {e}")))?;
    }
    Ok(roots)
}

fn transport(keep_alive: bool) -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(MAX_STREAMS.into())
        .max_concurrent_uni_streams(0u32.into())
        .max_idle_timeout(Some(
            IDLE_TIMEOUT
                .try_into()
                .expect("6 s is a valid idle timeout"),
        ));
    if keep_alive {
        transport.keep_alive_interval(Some(KEEP_ALIVE));
    }
    Arc::new(transport)
}

/// The quinn server config for `options`.
pub fn server_config(options: &KnulServeOptions) -> Result<quinn::ServerConfig> {
    if options.cert_pem.is_empty() || options.key_pem.is_empty() {
        return Err(KernelError::invalid(
            "a KNUL server needs cert_pem and key_pem (QUIC is always TLS)",
        ));
    }
    let (certs, key) = parse_pem(&options.cert_pem, &options.key_pem)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| KernelError::Internal(format!("tls protocol versions: {e}")))?;
    let builder = if options.client_ca_pem.is_empty() {
        builder.with_no_client_auth()
    } else {
        let roots = roots(&options.client_ca_pem, "client CA")?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(|e| KernelError::invalid(format!("client CA: {e}")))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut tls = builder
        .with_single_cert(certs, key)
        .map_err(|e| KernelError::invalid(format!("tls certificate and key do not fit: {e}")))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    if !options.session_store.is_empty() {
        tls.session_storage = super::sessions::SledSessions::open(options.session_store.as_ref())?;
    }
    // quinn accepts 0-RTT only with an unlimited early-data size (it limits by flow control).
    tls.max_early_data_size = u32::MAX;
    let crypto = QuicServerConfig::try_from(tls)
        .map_err(|e| KernelError::Internal(format!("quic tls: {e}")))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(false));
    Ok(config)
}

/// The quinn client config for `options`; `store` keeps session tickets for resumption.
pub fn client_config(
    options: &KnulConnectOptions,
    store: Arc<dyn rustls::client::ClientSessionStore>,
) -> Result<quinn::ClientConfig> {
    if options.ca_pem.is_empty() {
        return Err(KernelError::invalid(
            "a KNUL client needs ca_pem: the CA certificates it trusts for the server",
        ));
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| KernelError::Internal(format!("tls protocol versions: {e}")))?
        .with_root_certificates(roots(&options.ca_pem, "ca_pem")?);
    let mut tls = if options.cert_pem.is_empty() {
        builder.with_no_client_auth()
    } else {
        let (certs, key) = parse_pem(&options.cert_pem, &options.key_pem)?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| KernelError::invalid(format!("client certificate: {e}")))?
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = true;
    tls.resumption = rustls::client::Resumption::store(store);
    let crypto = QuicClientConfig::try_from(tls)
        .map_err(|e| KernelError::Internal(format!("quic tls: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(true));
    Ok(config)
}

/// The peer identity handlers see for a client certificate: `sha256:` and the hex SHA-256
/// of the end-entity certificate (stable, unambiguous, needs no X.509 parsing).
pub fn peer_identity(connection: &quinn::Connection) -> String {
    let Some(identity) = connection.peer_identity() else {
        return String::new();
    };
    match identity.downcast::<Vec<CertificateDer<'static>>>() {
        Ok(certs) => certs.first().map_or_else(String::new, |cert| {
            let digest = Sha256::digest(cert.as_ref());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }),
        Err(_) => String::new(),
    }
}
