//! A local stand-in for an AWS IoT data endpoint: a TLS listener on loopback with a
//! certificate for [`SERVER_NAME`] from a throwaway CA, that answers an MQTT CONNECT with
//! CONNACK and an HTTP GET with 200. Stopping it is the outage the health checker must
//! notice.
//!
//! With [`DeviceAuth`] it also does what AWS IoT does with a device: the TLS handshake
//! requires a client certificate signed by a registered CA, and CONNECT is accepted only
//! when that certificate is ACTIVE in the account's registry and the policies in effect —
//! the certificate's own, and its thing's groups' (the thing attached exclusively, whatever
//! the client id; otherwise the attached thing the client id names) — allow `iot:Connect`
//! for the client id ([`crate::iot_policy`]); CONNACK return code 5,
//! "not authorized", otherwise. A canary connecting to the DR stand-in therefore proves its
//! certificate and its permissions reached DR and are usable there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dr_aws::iot::IotRegistry;
use dr_core::replication::records::ThingAssociation;
use dr_core::replication::{CertificateRegistry, ThingGroupRegistry};
use dr_core::{CertificateId, CertificateStatus};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The name the listener's certificate carries (the SNI probes send).
pub const SERVER_NAME: &str = "iot.example.com";

/// How the stand-in authenticates devices, as AWS IoT would.
pub struct DeviceAuth {
    /// PEM of the CA(s) whose device certificates the handshake accepts.
    pub device_ca_pem: String,
    /// The registry that says whether a certificate may connect.
    pub registry: IotRegistry,
    /// `arn:aws:iot:<region>:<account>` of that registry: the ARNs policies must name.
    pub arn_prefix: String,
}

/// The running stand-in.
pub struct LocalIotEndpoint {
    /// The port it listens on (kept across stop/resume).
    pub port: u16,
    /// The server CA to trust, as a PEM file.
    pub ca_file: PathBuf,
    config: Arc<rustls::ServerConfig>,
    registry: Option<Arc<(IotRegistry, String)>>,
    task: Option<JoinHandle<()>>,
}

/// Why the stand-in could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Writing the CA file or binding the port failed.
    #[error("local IoT endpoint: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS configuration was refused (e.g. a device CA PEM that is not a certificate).
    #[error("local IoT endpoint TLS setup: {0}")]
    Tls(String),
}

impl LocalIotEndpoint {
    /// Start listening on `port` (0: any free one), writing the server CA to `dir`.
    pub async fn start(
        dir: &Path,
        port: u16,
        auth: Option<DeviceAuth>,
    ) -> Result<Self, EndpointError> {
        let tls = |e: &dyn std::fmt::Display| EndpointError::Tls(e.to_string());
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| tls(&e))?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sandbox IoT endpoint CA");
        let ca_key = rcgen::KeyPair::generate().map_err(|e| tls(&e))?;
        let ca = ca_params.self_signed(&ca_key).map_err(|e| tls(&e))?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().map_err(|e| tls(&e))?;
        let leaf = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .map_err(|e| tls(&e))?
            .signed_by(&leaf_key, &issuer)
            .map_err(|e| tls(&e))?;
        std::fs::create_dir_all(dir)?;
        let ca_file = dir.join("endpoint-ca.pem");
        std::fs::write(&ca_file, ca.pem())?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?;
        let (builder, registry) = match auth {
            None => (builder.with_no_client_auth(), None),
            Some(auth) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(auth.device_ca_pem.as_bytes()) {
                    roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| tls(&e))?;
                (
                    builder.with_client_cert_verifier(verifier),
                    Some(Arc::new((auth.registry, auth.arn_prefix))),
                )
            }
        };
        let mut config = builder
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes())
                    .map_err(|e| tls(&e))?,
            )
            .map_err(|e| tls(&e))?;
        config.alpn_protocols = vec![b"x-amzn-mqtt-ca".to_vec(), b"http/1.1".to_vec()];
        let mut endpoint = Self {
            port,
            ca_file,
            config: Arc::new(config),
            registry,
            task: None,
        };
        endpoint.resume().await?;
        Ok(endpoint)
    }

    /// Listen (again) — on the same port after a stop, as a recovered endpoint would.
    pub async fn resume(&mut self) -> Result<(), EndpointError> {
        // A hung endpoint holds the port: let it go first.
        self.stop().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.port = listener.local_addr()?.port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config));
        let registry = self.registry.clone();
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let registry = registry.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let device = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|der| CertificateId::of_der(der));
                    let mut first = [0u8; 1];
                    // An MQTT CONNECT gets its CONNACK, an HTTP GET a 200 (the health
                    // URL); a bare handshake just closes.
                    let reply: &[u8] = match tls.read_exact(&mut first).await {
                        Ok(_) if first[0] == 0x10 => {
                            let Some(client_id) = read_client_id(&mut tls).await else {
                                return;
                            };
                            if authorized(registry.as_deref(), device.as_ref(), &client_id).await {
                                &[0x20, 0x02, 0x00, 0x00]
                            } else {
                                &[0x20, 0x02, 0x00, 0x05]
                            }
                        }
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
        Ok(())
    }

    /// The outage: nothing listens on the port any more.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Accept connections and never answer, as an endpoint in a failing region most often
    /// behaves (a client waits for its own timeout). `resume` serves again.
    pub async fn hang(&mut self) -> Result<(), EndpointError> {
        self.stop().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.task = Some(tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                held.push(tcp);
            }
        }));
        Ok(())
    }
}

/// The rest of an MQTT CONNECT after its first byte: the client id, or `None` for a packet
/// that is not one.
async fn read_client_id<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<String> {
    let mut remaining = 0usize;
    for shift in 0..4 {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.ok()?;
        remaining |= usize::from(byte[0] & 0x7f) << (7 * shift);
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; remaining.min(64 * 1024)];
    stream.read_exact(&mut body).await.ok()?;
    // Protocol name (length-prefixed), level, flags, keep-alive; then the client id.
    let name_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let at = 2 + name_len + 4;
    let id_len = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
    String::from_utf8(body.get(at + 2..at + 2 + id_len)?.to_vec()).ok()
}

/// Without device authentication every CONNECT is accepted; with it, only an ACTIVE
/// certificate's whose policies allow the client id (a registry that cannot be read
/// refuses, as IoT would fail closed).
async fn authorized(
    auth: Option<&(IotRegistry, String)>,
    device: Option<&CertificateId>,
    client_id: &str,
) -> bool {
    let Some((registry, arn_prefix)) = auth else {
        return true;
    };
    let Some(id) = device else {
        return false;
    };
    if !matches!(
        registry.certificate(id).await,
        Ok(Some(view)) if view.status == CertificateStatus::Active
    ) {
        return false;
    }
    let Ok(documents) = policies_in_effect(registry, id, client_id).await else {
        return false;
    };
    let thing = documents.1.as_deref();
    crate::iot_policy::allows_connect(
        &documents.0,
        &crate::iot_policy::Connection {
            arn_prefix,
            client_id,
            certificate_id: id.as_str(),
            thing_name: thing,
        },
    )
}

/// The documents of the certificate's policies and, when the connection has a thing, of
/// that thing's groups and their ancestors; and that thing's name.
///
/// The connection's thing is the one the certificate is attached to exclusively, whatever
/// the client id; failing that, the attached thing the client id names. AWS (developer
/// guide, exclusive-thing.html): "If your client ID doesn't match the thing's name in the
/// registry, you can establish this association by attaching an X.509 certificate to your
/// IoT thing, exclusively"; and (thing-policy-variables.html) "If non-exclusive thing
/// association is in place ... the value of clientId ... must exactly match the thing
/// name". That the thing's groups' policies follow the same association is inferred: AWS
/// applies them to the connection's thing.
async fn policies_in_effect(
    registry: &IotRegistry,
    id: &CertificateId,
    client_id: &str,
) -> Result<(Vec<String>, Option<String>), dr_core::port::PortError> {
    let mut documents: Vec<String> = registry
        .certificate_policies(id)
        .await?
        .into_iter()
        .map(|p| p.document)
        .collect();
    let things = registry.certificate_thing_associations(id).await?;
    let exclusive = things
        .iter()
        .find(|(_, association)| **association == ThingAssociation::Exclusive)
        .map(|(thing, _)| thing.clone());
    let thing = exclusive.or_else(|| things.into_keys().find(|t| t.as_str() == client_id));
    if let Some(thing) = &thing {
        let mut groups = std::collections::BTreeSet::new();
        for membership in registry.thing_memberships(thing).await? {
            groups.extend(membership.ancestors);
            groups.insert(membership.group_name);
        }
        for group in groups {
            documents.extend(
                registry
                    .thing_group_policies(&group)
                    .await?
                    .into_iter()
                    .map(|p| p.document),
            );
        }
    }
    Ok((documents, thing.map(|t| t.to_string())))
}

impl Drop for LocalIotEndpoint {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
