//! The TLS probe, and the TLS connection the MQTT and HTTPS probes run over: roots (a CA
//! file or the system's), SNI, ALPN, and a client certificate when the probe has one.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Where and how to open a TLS connection.
#[derive(Clone)]
pub(super) struct TlsTarget {
    pub(super) host: String,
    pub(super) port: u16,
    /// The name the peer must prove (SNI, certificate, HTTP Host).
    pub(super) name: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsTarget {
    pub(super) async fn connect(&self) -> Result<TlsStream<TcpStream>, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("TCP connect to {}:{}: {e}", self.host, self.port))?;
        self.connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    }
}

/// A TLS target, opaque outside `probes`.
#[derive(Debug)]
pub struct TlsTargetHandle(pub(super) TlsTarget);

/// A connector to `host:port` trusting `ca_file` (or the system's roots), expecting
/// `server_name` (or `host`), offering `alpn`, and presenting `identity` when given.
pub(super) fn tls_target(
    host: &str,
    port: u16,
    server_name: Option<&str>,
    alpn: Option<&str>,
    ca_file: Option<&Path>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<TlsTargetHandle>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?
            {
                let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        return Err("no trusted root certificates (set ca_file)".to_owned());
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    if let Some(alpn) = alpn {
        config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    }
    let name = server_name.unwrap_or(host).to_owned();
    let server_name =
        ServerName::try_from(name.clone()).map_err(|e| format!("server name {name}: {e}"))?;
    Ok(Arc::new(TlsTargetHandle(TlsTarget {
        host: host.to_owned(),
        port,
        name,
        server_name,
        connector: TlsConnector::from(Arc::new(config)),
    })))
}

/// A client certificate chain and its key, from PEM files.
pub(super) fn client_identity(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("client_cert_file {}: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "client_cert_file {} holds no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("client_key_file {}: {e}", key_file.display()))?;
    Ok((chain, key))
}

/// A TLS handshake alone: the protocol version and ALPN the peer agreed to.
pub(super) async fn tls_handshake(target: &TlsTarget) -> Result<String, String> {
    let stream = target.connect().await?;
    let (_, session) = stream.get_ref();
    let alpn = session
        .alpn_protocol()
        .map(|p| format!(", ALPN {}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    Ok(format!(
        "handshake ok ({:?}{alpn})",
        session
            .protocol_version()
            .unwrap_or(rustls::ProtocolVersion::Unknown(0))
    ))
}
