//! Simulated devices: a fleet CA and the device certificates it signs, made the way a
//! device makes them — the key pair is generated "on the device" and only the certificate
//! leaves it. The one exception is a canary: a test device whose key the control plane
//! holds on purpose, to prove end to end that a device can connect.

use dr_core::{CertificateId, CertificatePem};

/// A device's certificate, as registered in primary. Its private key was dropped where it
/// was made.
#[derive(Debug, Clone)]
pub struct Device {
    /// The certificate, PEM.
    pub pem: String,
    /// Its AWS IoT id (SHA-256 of the DER).
    pub id: CertificateId,
}

impl Device {
    /// A self-signed device certificate (the RegisterCertificateWithoutCA path).
    pub fn self_signed(name: &str) -> Self {
        let certified = rcgen::generate_simple_self_signed(vec![device_dns_name(name)])
            .expect("rcgen makes a self-signed certificate for a valid DNS name");
        Self::from_pem(certified.cert.pem())
    }

    /// A device from its certificate PEM.
    pub fn from_pem(pem: String) -> Self {
        let id = CertificatePem::parse(&pem)
            .expect("rcgen writes one well-formed certificate")
            .id()
            .clone();
        Self { pem, id }
    }
}

/// A canary device: a certificate and the private key that goes with it.
pub struct Canary {
    /// The canary's certificate.
    pub device: Device,
    /// Its private key, PEM. Written only to the canary's own files, never into a message.
    pub key_pem: String,
}

/// A fleet CA (the JITR path: devices carry certificates this CA signed).
pub struct FleetCa {
    /// The CA certificate, PEM (registered in both accounts).
    pub pem: String,
    /// The CA certificate's id.
    pub id: CertificateId,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl FleetCa {
    /// A new CA whose common name is `name`.
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .expect("no subject alternative names to parse");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("a P-256 key pair");
        let cert = params.self_signed(&key).expect("a CA certificate");
        let pem = cert.pem();
        let id = CertificatePem::parse(&pem)
            .expect("rcgen writes one well-formed certificate")
            .id()
            .clone();
        Self {
            pem,
            id,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A device certificate signed by this CA; the device's key is dropped here.
    pub fn sign_device(&self, name: &str) -> Device {
        self.sign(name).device
    }

    /// A canary certificate signed by this CA, with its key.
    pub fn sign_canary(&self, name: &str) -> Canary {
        self.sign(name)
    }

    fn sign(&self, name: &str) -> Canary {
        let params = rcgen::CertificateParams::new(vec![device_dns_name(name)])
            .expect("device names are valid DNS labels");
        let key = rcgen::KeyPair::generate().expect("a P-256 key pair");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("the CA signs a device certificate");
        Canary {
            device: Device::from_pem(cert.pem()),
            key_pem: key.serialize_pem(),
        }
    }
}

fn device_dns_name(name: &str) -> String {
    format!("{name}.devices.example.com")
}
