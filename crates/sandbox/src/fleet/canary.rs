//! The canary's files: the fleet CA and the canary's certificate and key, written where
//! `[drill.canary]` and a local DR endpoint read them.

use std::path::{Path, PathBuf};

use super::error::FleetError;
use super::naming::CANARY;
use crate::devices::FleetCa;

/// The canary's files, for `[drill.canary]` and a local DR endpoint.
#[derive(Debug, Clone)]
pub struct CanaryFiles {
    /// The fleet CA's certificate (what DR's endpoint trusts for devices).
    pub fleet_ca_file: PathBuf,
    /// The canary's certificate.
    pub cert_file: PathBuf,
    /// The canary's private key (mode 0600).
    pub key_file: PathBuf,
    /// Its thing name and MQTT client id.
    pub client_id: String,
}

/// Write the CA, the canary's certificate and its key (mode 0600) into `dir`.
pub(super) fn write_canary(
    dir: &Path,
    ca: &FleetCa,
    canary: &crate::devices::Canary,
) -> Result<CanaryFiles, FleetError> {
    let write = |name: &str, text: &str, private: bool| -> Result<PathBuf, FleetError> {
        let path = dir.join(name);
        let failed = |source| FleetError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        options
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(failed)?;
        Ok(path)
    };
    Ok(CanaryFiles {
        fleet_ca_file: write("fleet-ca.pem", &ca.pem, false)?,
        cert_file: write("canary-cert.pem", &canary.device.pem, false)?,
        key_file: write("canary-key.pem", &canary.key_pem, true)?,
        client_id: CANARY.to_owned(),
    })
}
