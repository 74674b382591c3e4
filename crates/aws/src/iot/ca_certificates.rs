//! CA certificates' trust settings on the IoT client: what capture reads in primary and the
//! replicator sets in DR (the CAs themselves are registered in each region by operators).

use aws_sdk_iot::types::{
    AutoRegistrationStatus, CaCertificateDescription, CaCertificateStatus as SdkCaStatus,
};
use dr_core::certificate::CertificateId;
use dr_core::port::PortError;
use dr_core::replication::records::{CaCertificateRecord, CaCertificateStatus};

use super::{IotRegistry, NOT_FOUND};
use crate::call::Tolerate;

impl IotRegistry {
    /// DescribeCACertificate's description of a CA, or `None` when it is not registered.
    pub(super) async fn ca_description(
        &self,
        ca_id: &CertificateId,
    ) -> Result<Option<CaCertificateDescription>, PortError> {
        let request = self
            .client
            .describe_ca_certificate()
            .certificate_id(ca_id.as_str());
        Ok(self
            .calls
            .send("DescribeCACertificate", || request.send())
            .await
            .none_on(NOT_FOUND)?
            .and_then(|output| output.certificate_description))
    }

    /// A CA's status and auto-registration, or `None`.
    pub(super) async fn describe_ca(
        &self,
        ca_id: &CertificateId,
    ) -> Result<Option<CaCertificateRecord>, PortError> {
        let Some(description) = self.ca_description(ca_id).await? else {
            return Ok(None);
        };
        let status = match description.status() {
            Some(SdkCaStatus::Active) => CaCertificateStatus::Active,
            Some(SdkCaStatus::Inactive) => CaCertificateStatus::Inactive,
            other => {
                return Err(PortError::permanent(
                    "DescribeCACertificate",
                    format!("CA {ca_id} has status {other:?}, neither ACTIVE nor INACTIVE"),
                ))
            }
        };
        Ok(Some(CaCertificateRecord {
            ca_certificate_id: ca_id.clone(),
            status,
            auto_registration: description.auto_registration_status()
                == Some(&AutoRegistrationStatus::Enable),
        }))
    }

    /// UpdateCACertificate with both settings; `Ok(false)` when the CA is not registered.
    pub(super) async fn update_ca(&self, ca: &CaCertificateRecord) -> Result<bool, PortError> {
        let request = self
            .client
            .update_ca_certificate()
            .certificate_id(ca.ca_certificate_id.as_str())
            .new_status(match ca.status {
                CaCertificateStatus::Active => SdkCaStatus::Active,
                CaCertificateStatus::Inactive => SdkCaStatus::Inactive,
            })
            .new_auto_registration_status(if ca.auto_registration {
                AutoRegistrationStatus::Enable
            } else {
                AutoRegistrationStatus::Disable
            });
        Ok(self
            .calls
            .send("UpdateCACertificate", || request.send())
            .await
            .none_on(NOT_FOUND)?
            .is_some())
    }
}
