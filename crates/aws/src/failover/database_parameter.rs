//! [`DatabaseDirectory`] on SSM Parameter Store in DR: one `String` parameter per protected
//! database, `<[failover] database_parameter_path>/<identifier>`, holding a
//! [`DatabaseLocation`] as JSON. PutParameter is SSM's data plane in the DR region: it
//! belongs on the failover path. No secret goes in it (the credentials stay in Secrets
//! Manager; the parameter names their secret), so no SecureString and no key to grant.

use aws_sdk_ssm::types::ParameterType;
use dr_core::port::PortError;
use dr_core::snapshots::{parameter_name, DatabaseDirectory, DatabaseLocation};
use dr_core::{Side, Topology};

use crate::error::port_error;
use crate::AwsSession;

/// The database parameters in DR.
#[derive(Debug, Clone)]
pub struct SsmDatabaseDirectory {
    ssm: aws_sdk_ssm::Client,
    path: String,
}

impl SsmDatabaseDirectory {
    /// The parameters of `topology`, written with `session`'s DR role.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            ssm: session.ssm(Side::Dr),
            path: topology.failover.database_parameter_path.clone(),
        }
    }

    /// The announcement of `database`, if there is one (readiness, tests, operators).
    pub async fn read(&self, database: &str) -> Result<Option<DatabaseLocation>, PortError> {
        let name = parameter_name(&self.path, database);
        let got = match self.ssm.get_parameter().name(&name).send().await {
            Ok(got) => got,
            Err(e) if crate::error::code(&e) == Some("ParameterNotFound") => return Ok(None),
            Err(e) => return Err(port_error("GetParameter", e)),
        };
        let value = got.parameter().and_then(|p| p.value()).unwrap_or_default();
        serde_json::from_str(value).map(Some).map_err(|e| {
            PortError::permanent(
                "GetParameter",
                format!("{name} does not hold a database location: {e}"),
            )
        })
    }

    /// Prove the path takes writes: put (and read back) `<path>/readiness`, a parameter
    /// only readiness writes, never a database's own.
    pub async fn probe_writable(&self, now_ms: i64) -> Result<String, PortError> {
        let name = parameter_name(&self.path, "readiness");
        let value =
            serde_json::json!({"written_by": "drctl readiness", "written_ms": now_ms}).to_string();
        self.put(&name, &value).await?;
        self.ssm
            .get_parameter()
            .name(&name)
            .send()
            .await
            .map_err(|e| port_error("GetParameter", e))?;
        Ok(name)
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), PortError> {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .description("IoT DR: where the restored database answers (written by failover)")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("PutParameter", e))
    }
}

impl DatabaseDirectory for SsmDatabaseDirectory {
    async fn publish(&self, location: &DatabaseLocation) -> Result<(), PortError> {
        let value = serde_json::to_string(location)
            .map_err(|e| PortError::permanent("PutParameter", e.to_string()))?;
        self.put(&parameter_name(&self.path, &location.database), &value)
            .await
    }

    fn name_of(&self, database: &str) -> String {
        parameter_name(&self.path, database)
    }

    async fn withdraw(&self, database: &str) -> Result<(), PortError> {
        match self
            .ssm
            .delete_parameter()
            .name(parameter_name(&self.path, database))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if crate::error::code(&e) == Some("ParameterNotFound") => Ok(()),
            Err(e) => Err(port_error("DeleteParameter", e)),
        }
    }
}
