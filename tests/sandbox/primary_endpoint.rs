//! A local stand-in for primary's IoT data endpoint: a TLS listener on loopback with a
//! certificate for `iot.example.com` from a throwaway CA, that answers an MQTT CONNECT with
//! CONNACK and an HTTP GET with 200. Stopping it is the outage the health checker must notice.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The name the listener's certificate carries (the SNI the probes send).
pub(crate) const SERVER_NAME: &str = "iot.example.com";

pub(crate) struct PrimaryEndpoint {
    pub(crate) port: u16,
    /// The CA to trust, as a PEM file.
    pub(crate) ca_file: PathBuf,
    config: Arc<rustls::ServerConfig>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl PrimaryEndpoint {
    pub(crate) async fn start() -> Self {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test primary CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("primary-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        config.alpn_protocols = vec![b"x-amzn-mqtt-ca".to_vec(), b"http/1.1".to_vec()];
        let mut endpoint = Self {
            port: 0,
            ca_file,
            config: Arc::new(config),
            task: None,
            _dir: dir,
        };
        endpoint.resume().await;
        endpoint
    }

    /// Listen (again) — on the same port after a stop, as a recovered primary would.
    pub(crate) async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config));
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut first = [0u8; 1];
                    // An MQTT CONNECT gets its CONNACK, an HTTP GET a 200 (the health
                    // URL); a bare handshake just closes.
                    let reply: &[u8] = match tls.read_exact(&mut first).await {
                        Ok(_) if first[0] == 0x10 => &[0x20, 0x02, 0x00, 0x00],
                        Ok(_) if first[0] == b'G' => {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        }
                        _ => return,
                    };
                    let _ = tls.write_all(reply).await;
                    let _ = tls.flush().await;
                });
            }
        }));
    }

    /// The outage: nothing listens on the port any more.
    pub(crate) async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for PrimaryEndpoint {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
