//! TLS server configuration from PEM files (rustls with the aws-lc-rs provider).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// Builds the rustls server configuration from a PEM certificate chain (leaf first) and a PEM
/// private key (PKCS#8, PKCS#1 or SEC1). ALPN offers `http/1.1` only: the listener speaks
/// HTTP/1.1.
///
/// # Errors
/// [`Error::Pem`] when a file cannot be read or holds no usable item, [`Error::Tls`] when
/// rustls refuses the pair.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    let pem_error = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Pem { path, source }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error(cert))?
        .collect::<Result<_, _>>()
        .map_err(pem_error(cert))?;
    if certs.is_empty() {
        return Err(pem_error(cert)(rustls_pki_types::pem::Error::NoItemsFound));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error(key))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
