//! TLS from PEM text, with ALPN offering HTTP/2 and HTTP/1.1.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{KernelError, Result};

/// Builds an acceptor from a PEM certificate chain and a PEM private key.
pub fn acceptor(cert_pem: &str, key_pem: &str) -> Result<TlsAcceptor> {
    acceptor_offering(cert_pem, key_pem, &[b"h2", b"http/1.1"])
}

/// Builds an acceptor offering the ALPN protocols `alpn` (in order of preference).
pub fn acceptor_offering(cert_pem: &str, key_pem: &str, alpn: &[&[u8]]) -> Result<TlsAcceptor> {
    let (certs, key) = parse_pem(cert_pem, key_pem)?;
    // ring, not aws-lc-rs (Deno's provider): a hello's record work (open, seal, framing)
    // measured the same with either, about 0.47 µs per request, and ring builds no C library.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| KernelError::Internal(format!("tls protocol versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| KernelError::invalid(format!("tls certificate and key do not fit: {e}")))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Parses a PEM certificate chain and a PEM private key (also used by KNUL).
pub fn parse_pem(
    cert_pem: &str,
    key_pem: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let certs = parse_certs(cert_pem, "tls certificate")?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| KernelError::invalid(format!("tls key is not valid PEM: {e}")))?
        .ok_or_else(|| KernelError::invalid("tls key PEM holds no private key"))?;
    Ok((certs, key))
}

/// Parses a PEM certificate chain; `what` names it in errors.
pub fn parse_certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| KernelError::invalid(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(KernelError::invalid(format!(
            "{what} PEM holds no certificate"
        )));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_a_clear_error() {
        let err = acceptor("nope", "nope").err().unwrap().to_string();
        assert!(err.contains("no certificate"), "{err}");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let err = acceptor(&cert.cert.pem(), "nope")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no private key"), "{err}");
        assert!(acceptor(&cert.cert.pem(), &cert.signing_key.serialize_pem()).is_ok());
    }
}
