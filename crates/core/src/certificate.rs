//! Device certificates: ids, PEM bodies and statuses, parsed at the boundary.
//!
//! AWS IoT names a certificate by the SHA-256 of its DER encoding, so the same PEM
//! registered in DR gets the same id as in primary. [`CertificatePem::parse`] accepts exactly
//! one `CERTIFICATE` block and nothing else, and refuses any private key outright: a private
//! key never leaves a device, and a message carrying one is a leak to stop, not to forward.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest PEM AWS IoT accepts (RegisterCertificate's `certificatePem` limit).
pub const MAX_PEM_BYTES: usize = 65_536;

/// A 64-hex-digit certificate id (SHA-256 of the DER), lowercase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CertificateId(String);

impl CertificateId {
    /// The id as AWS prints it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the certificate whose DER encoding is `der`.
    pub fn of_der(der: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(der)))
    }

    /// The id's 32 bytes: half the memory of its text, for indexes over a whole fleet.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0; 32];
        hex::decode_to_slice(&self.0, &mut bytes).expect("validated as 64 hex digits");
        bytes
    }

    /// The id whose bytes [`CertificateId::to_bytes`] gave.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(hex::encode(bytes))
    }

    /// The id at the end of a certificate ARN (`arn:aws:iot:<region>:<account>:cert/<id>`).
    pub fn from_arn(arn: &str) -> Option<Self> {
        let (prefix, id) = arn.rsplit_once(":cert/")?;
        prefix.starts_with("arn:").then_some(())?;
        id.parse().ok()
    }
}

impl FromStr for CertificateId {
    type Err = PemError;
    fn from_str(s: &str) -> Result<Self, PemError> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(PemError::BadId(s.chars().take(80).collect()))
        }
    }
}

impl TryFrom<String> for CertificateId {
    type Error = PemError;
    fn try_from(value: String) -> Result<Self, PemError> {
        value.parse()
    }
}

impl From<CertificateId> for String {
    fn from(value: CertificateId) -> String {
        value.0
    }
}

impl fmt::Display for CertificateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a PEM or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// Something that must never travel.
    #[error("the payload holds a PRIVATE KEY block; private keys never leave the device, so it was refused")]
    PrivateKey,
    /// Not one PEM certificate.
    #[error("invalid certificate PEM: {0}")]
    Invalid(&'static str),
    /// Larger than AWS IoT accepts.
    #[error("certificate PEM is {0} bytes; AWS IoT accepts at most {MAX_PEM_BYTES}")]
    TooLarge(usize),
    /// Not a 64-hex-digit id.
    #[error("{0:?} is not a certificate id (expected 64 hex digits)")]
    BadId(String),
    /// The PEM hashes to another id than the one it travels under.
    #[error("certificate PEM hashes to {actual}, not the claimed id {claimed}; refusing a PEM/id mismatch")]
    IdMismatch {
        /// The id in the message.
        claimed: CertificateId,
        /// SHA-256 of the PEM's DER.
        actual: CertificateId,
    },
}

/// Whether `text` holds a private key block of any flavour (PKCS#8, RSA, EC, encrypted…).
pub fn contains_private_key(text: &str) -> bool {
    text.contains("PRIVATE KEY-----")
}

/// A certificate in PEM form, known to hold exactly one well-formed DER certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePem {
    text: String,
    id: CertificateId,
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

impl CertificatePem {
    /// Parse and fingerprint a PEM certificate.
    pub fn parse(text: &str) -> Result<Self, PemError> {
        if contains_private_key(text) {
            return Err(PemError::PrivateKey);
        }
        if text.len() > MAX_PEM_BYTES {
            return Err(PemError::TooLarge(text.len()));
        }
        let trimmed = text.trim();
        let body = trimmed
            .strip_prefix(BEGIN)
            .and_then(|rest| rest.strip_suffix(END))
            .ok_or(PemError::Invalid(
                "expected one -----BEGIN CERTIFICATE----- … -----END CERTIFICATE----- block",
            ))?;
        if body.contains("-----") {
            return Err(PemError::Invalid("expected exactly one PEM block"));
        }
        let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(base64.as_bytes())
            .map_err(|_| PemError::Invalid("the body is not valid base64"))?;
        if !is_der_sequence(&der) {
            return Err(PemError::Invalid(
                "the body is not a DER-encoded certificate",
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            id: CertificateId::of_der(&der),
        })
    }

    /// Parse, and insist the PEM is the certificate named `claimed`.
    pub fn parse_as(text: &str, claimed: &CertificateId) -> Result<Self, PemError> {
        let pem = Self::parse(text)?;
        if &pem.id == claimed {
            Ok(pem)
        } else {
            Err(PemError::IdMismatch {
                claimed: claimed.clone(),
                actual: pem.id,
            })
        }
    }

    /// The certificate id: SHA-256 of the DER.
    pub fn id(&self) -> &CertificateId {
        &self.id
    }

    /// The PEM text, exactly as received.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A DER SEQUENCE whose length header covers exactly the rest of the input.
fn is_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (length, content) = if first & 0x80 == 0 {
        (*first as usize, rest)
    } else {
        let octets = (first & 0x7f) as usize;
        if octets == 0 || octets > 4 || rest.len() < octets {
            return false;
        }
        let length = rest[..octets]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (length, &rest[octets..])
    };
    length == content.len() && length > 0
}

/// A certificate's status in AWS IoT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateStatus {
    /// Devices may connect with it.
    Active,
    /// Registered, but connections are refused.
    Inactive,
    /// Permanently withdrawn; must never become ACTIVE or INACTIVE again.
    Revoked,
    /// Being transferred to another account.
    PendingTransfer,
    /// Registered inactive (a registration mode).
    RegisterInactive,
    /// Registered by JITR, awaiting activation by the fleet's activation logic.
    PendingActivation,
}

impl CertificateStatus {
    /// The status as AWS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
            Self::Revoked => "REVOKED",
            Self::PendingTransfer => "PENDING_TRANSFER",
            Self::RegisterInactive => "REGISTER_INACTIVE",
            Self::PendingActivation => "PENDING_ACTIVATION",
        }
    }

    /// The status DR holds for a certificate with this status in primary.
    ///
    /// UpdateCertificate only sets ACTIVE, INACTIVE or REVOKED; every transitional status
    /// (pending activation or transfer) maps to INACTIVE, so a device whose activation primary
    /// never finished cannot connect in DR either.
    pub fn in_dr(self) -> CertificateStatus {
        match self {
            Self::Active => Self::Active,
            Self::Revoked => Self::Revoked,
            _ => Self::Inactive,
        }
    }
}

impl FromStr for CertificateStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "ACTIVE" => Self::Active,
            "INACTIVE" => Self::Inactive,
            "REVOKED" => Self::Revoked,
            "PENDING_TRANSFER" => Self::PendingTransfer,
            "REGISTER_INACTIVE" => Self::RegisterInactive,
            "PENDING_ACTIVATION" => Self::PendingActivation,
            other => return Err(format!("unknown certificate status {other:?}")),
        })
    }
}

impl fmt::Display for CertificateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh self-signed certificate, as a device would present it (its key stays here).
    pub(crate) fn generated_pem() -> String {
        rcgen::generate_simple_self_signed(vec!["device.example.com".to_owned()])
            .unwrap()
            .cert
            .pem()
    }

    #[test]
    fn the_id_is_the_sha256_of_the_der() {
        let certified = rcgen::generate_simple_self_signed(vec!["d".to_owned()]).unwrap();
        let pem = CertificatePem::parse(&certified.cert.pem()).unwrap();
        let expected = hex::encode(Sha256::digest(certified.cert.der()));
        assert_eq!(pem.id().as_str(), expected);
    }

    #[test]
    fn parse_as_rejects_a_pem_under_another_id() {
        let pem = generated_pem();
        let other = CertificatePem::parse(&generated_pem()).unwrap();
        let error = CertificatePem::parse_as(&pem, other.id()).unwrap_err();
        assert!(matches!(error, PemError::IdMismatch { .. }), "{error}");
        assert!(error.to_string().contains("mismatch"));
    }

    #[test]
    fn private_keys_are_refused_with_the_reason() {
        let certified = rcgen::generate_simple_self_signed(vec!["d".to_owned()]).unwrap();
        let bundle = format!(
            "{}{}",
            certified.cert.pem(),
            certified.signing_key.serialize_pem()
        );
        let error = CertificatePem::parse(&bundle).unwrap_err();
        assert_eq!(error, PemError::PrivateKey);
        assert!(error.to_string().contains("never leave the device"));
    }

    #[test]
    fn malformed_pems_are_refused() {
        let good = generated_pem();
        let cases = [
            String::new(),
            "not a pem".to_owned(),
            good.replace("MII", "!!!"),
            format!("{good}{good}"),
            good.replace("BEGIN CERTIFICATE", "BEGIN PUBLIC KEY"),
            // Valid base64, but not a DER certificate.
            format!("{BEGIN}\naGVsbG8gd29ybGQ=\n{END}\n"),
        ];
        for case in cases {
            assert!(CertificatePem::parse(&case).is_err(), "{case:?}");
        }
    }

    #[test]
    fn ids_parse_from_arns_and_normalise_case() {
        let id = "A".repeat(64);
        let arn = format!("arn:aws:iot:us-east-1:111111111111:cert/{id}");
        assert_eq!(
            CertificateId::from_arn(&arn).unwrap().as_str(),
            "a".repeat(64)
        );
        assert!(CertificateId::from_arn("arn:aws:iot:us-east-1:1:thing/x").is_none());
        assert!("xyz".parse::<CertificateId>().is_err());
    }

    #[test]
    fn transitional_statuses_are_inactive_in_dr() {
        use CertificateStatus::*;
        assert_eq!(Active.in_dr(), Active);
        assert_eq!(Revoked.in_dr(), Revoked);
        for s in [
            Inactive,
            PendingActivation,
            PendingTransfer,
            RegisterInactive,
        ] {
            assert_eq!(s.in_dr(), Inactive);
        }
    }
}
