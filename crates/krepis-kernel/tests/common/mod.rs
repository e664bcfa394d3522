//! Helpers the KNUL integration tests share: TLS material and raw requests.

use bytes::BytesMut;
use krepis_kernel::knul::frame;
use krepis_kernel::proto::{KnulConnectOptions, KnulHeader};
use prost::Message;

/// A CA and a `localhost` certificate it signed.
pub struct Certs {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// Fresh TLS material.
pub fn certs() -> Certs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Certs {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// Client options for the server on 127.0.0.1:`port`, trusting the test CA.
pub fn connect_options(certs: &Certs, port: u16) -> KnulConnectOptions {
    KnulConnectOptions {
        hostname: "127.0.0.1".into(),
        port: u32::from(port),
        server_name: "localhost".into(),
        ca_pem: certs.ca.clone(),
        ..Default::default()
    }
}

/// A call's HEADER and one `null` MESSAGE, as a client sends them.
pub fn request(method: &str, idempotent: bool) -> Vec<u8> {
    let header = KnulHeader {
        method: method.into(),
        idempotent,
        ..Default::default()
    }
    .encode_to_vec();
    let mut out = BytesMut::new();
    frame::put(&mut out, frame::HEADER, &header);
    frame::put(&mut out, frame::MESSAGE, b"null");
    out.to_vec()
}
