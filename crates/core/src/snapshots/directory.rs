//! Where a restored database answers, written where the application in DR looks for it: an
//! SSM parameter per protected database in the DR region. The endpoint, even the account,
//! depends on which source a failover restored from, and the restored identifier on the
//! runbook; the application must not have to guess any of them.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::DatabaseKind;
use crate::port::PortError;
use crate::time::EpochMillis;

/// One restored database, as the application in DR reads it (the parameter's JSON value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseLocation {
    /// The protected database's identifier in primary.
    pub database: String,
    /// Its restored identifier in DR.
    pub restored_as: String,
    /// Instance or Aurora cluster (a cluster's address is its writer endpoint).
    pub kind: DatabaseKind,
    /// Host name to connect to.
    pub address: String,
    /// Port.
    pub port: u16,
    /// The account it was restored into (DR's, or primary's for replicated backups).
    pub account: String,
    /// The DR region.
    pub region: String,
    /// What it was restored from, in words (snapshot id, or the replicated backups' ARN).
    pub source: String,
    /// The time its data is from (epoch ms): writes after it are not in it.
    pub data_time_ms: EpochMillis,
    /// The failover runbook that restored it.
    pub runbook: String,
    /// The credentials' secret in DR, if configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_arn: Option<String>,
    /// When this was written (epoch ms).
    pub written_ms: EpochMillis,
}

/// The parameter of `database` under `path`: `<path>/<database>`.
pub fn parameter_name(path: &str, database: &str) -> String {
    format!("{}/{database}", path.trim_end_matches('/'))
}

/// Where restored databases are announced (SSM parameters in DR).
pub trait DatabaseDirectory {
    /// Announce `location` (overwrites the database's previous one).
    fn publish(
        &self,
        location: &DatabaseLocation,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Where `database` is announced, for notes (the parameter's name).
    fn name_of(&self, database: &str) -> String;
    /// Withdraw `database`'s announcement (its restored database is retired); none is done.
    fn withdraw(&self, database: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_reads_back_as_the_application_would_parse_it() {
        let location = DatabaseLocation {
            database: "fleetdb".into(),
            restored_as: "fleetdb-fo-abc".into(),
            kind: DatabaseKind::Instance,
            address: "fleetdb-fo-abc.dr.rds.amazonaws.com".into(),
            port: 5432,
            account: "222222222222".into(),
            region: "us-west-2".into(),
            source: "snapshot copy dr-fleetdb-1".into(),
            data_time_ms: 1_700_000_000_000,
            runbook: "failover-1700000300000".into(),
            credentials_secret_arn: None,
            written_ms: 1_700_000_400_000,
        };
        let json = serde_json::to_value(&location).unwrap();
        assert_eq!(json["address"], "fleetdb-fo-abc.dr.rds.amazonaws.com");
        assert_eq!(json["port"], 5432);
        assert_eq!(json["kind"], "instance");
        assert!(json.get("credentials_secret_arn").is_none());
        assert_eq!(
            serde_json::from_value::<DatabaseLocation>(json).unwrap(),
            location
        );
        assert_eq!(
            parameter_name("/iot-dr/databases", "fleetdb"),
            "/iot-dr/databases/fleetdb"
        );
    }
}
