//! Flow D's ports on AWS, all in the DR account: the state table (DynamoDB, conditional
//! writes), operators' SNS topic, the database restore (RDS), and the two traffic switches
//! (Route 53 failover records driven by a CloudWatch metric; or a direct record UPSERT).
//!
//! * [`state`] — the fenced state item and the audit records.
//! * [`notifier`] — operators' topic.
//! * [`data_plane`] / [`dns_api`] — the two switches, over the shared [`zone`].

mod data_plane;
mod database_parameter;
mod dns_api;
mod notifier;
mod state;
mod zone;

pub use data_plane::{
    serving_alarm_name, DataPlaneSwitch, Route53View, ServingAlarm, SERVING_ALARM_PERIOD_SECONDS,
    SERVING_METRIC, SERVING_METRIC_DIMENSION,
};
pub use database_parameter::SsmDatabaseDirectory;
pub use dns_api::DnsApiSwitch;
pub use notifier::{operator_topic_arn, SnsNotifier};
pub use state::DynamoStateStore;

use dr_core::failover::TrafficSwitch;
use dr_core::port::PortError;
use dr_core::snapshots::SnapshotRecovery;
use dr_core::time::SystemClock;
use dr_core::{Side, Topology};

use crate::backups::RdsReplicatedBackups;
use crate::rds::RdsStores;
use crate::AwsSession;

/// Database recovery in DR: flow C's use case on RDS. Every protected database is restored
/// in the DR region into `<identifier>-<runbook id>`, tagged with the runbook, from the
/// source holding the newest data: DR's snapshot copy (into DR's account) or RDS's
/// replicated automated backups (into primary's account in the DR region). Both are read
/// and restored in the DR region only.
pub type RdsRecovery =
    SnapshotRecovery<RdsStores, RdsReplicatedBackups, SystemClock, SsmDatabaseDirectory>;

/// The recovery of the topology's `[snapshots]` databases.
pub fn rds_recovery(session: &AwsSession, topology: &Topology) -> RdsRecovery {
    SnapshotRecovery {
        stores: RdsStores::new(session, topology),
        replicated: RdsReplicatedBackups::new(session, topology),
        databases: topology.snapshot_policies(),
        dr_region: topology.dr.region.to_string(),
        clock: SystemClock,
        ready_timeout_ms: topology.failover.database_ready_timeout_seconds as i64 * 1000,
        directory: SsmDatabaseDirectory::new(session, topology),
        primary_account: topology.primary.account_id.to_string(),
        credentials: topology
            .snapshots
            .databases
            .iter()
            .filter_map(|db| {
                let arn = db.credentials_secret_arn.clone()?;
                Some((db.identifier.to_string(), arn))
            })
            .collect(),
    }
}

/// Either switch, as the topology's `[failover] flip` picks.
#[derive(Debug, Clone)]
pub enum Switch {
    /// Route 53 failover records driven by a metric.
    DataPlane(DataPlaneSwitch),
    /// Direct UPSERT.
    DnsApi(DnsApiSwitch),
}

impl Switch {
    /// The configured switch.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        match topology.failover.flip {
            dr_core::FlipMode::DataPlane => {
                Switch::DataPlane(DataPlaneSwitch::new(session, topology))
            }
            dr_core::FlipMode::DnsApi => Switch::DnsApi(DnsApiSwitch::new(session, topology)),
        }
    }
}

impl TrafficSwitch for Switch {
    async fn ensure(&self) -> Result<(), PortError> {
        match self {
            Switch::DataPlane(s) => s.ensure().await,
            Switch::DnsApi(s) => s.ensure().await,
        }
    }

    async fn point_to(&self, side: Side) -> Result<(), PortError> {
        match self {
            Switch::DataPlane(s) => s.point_to(side).await,
            Switch::DnsApi(s) => s.point_to(side).await,
        }
    }

    async fn heartbeat(&self, side: Side) -> Result<(), PortError> {
        match self {
            Switch::DataPlane(s) => s.heartbeat(side).await,
            Switch::DnsApi(s) => s.heartbeat(side).await,
        }
    }

    async fn serving(&self) -> Result<Option<Side>, PortError> {
        match self {
            Switch::DataPlane(s) => s.serving().await,
            Switch::DnsApi(s) => s.serving().await,
        }
    }
}

/// Flow D's ports wired for one topology: what the health checker, `drctl` and the tests
/// build a [`Controller`](dr_core::failover::Controller) from.
#[derive(Debug)]
pub struct FailoverPorts<'a> {
    /// The state table.
    pub store: DynamoStateStore,
    /// The configured traffic switch.
    pub switch: Switch,
    /// Operators' topic.
    pub notifier: SnsNotifier,
    /// Database restore in DR.
    pub recovery: RdsRecovery,
    topology: &'a Topology,
}

impl<'a> FailoverPorts<'a> {
    /// The ports of `topology`, reached through `session`.
    pub fn new(session: &'a AwsSession, topology: &'a Topology) -> Self {
        Self {
            store: DynamoStateStore::new(session, topology),
            switch: Switch::new(session, topology),
            notifier: SnsNotifier::new(session, topology),
            recovery: rds_recovery(session, topology),
            topology,
        }
    }

    /// The controller over these ports, with the topology's thresholds.
    pub fn controller(
        &self,
    ) -> dr_core::failover::Controller<'_, DynamoStateStore, Switch, SnsNotifier, RdsRecovery> {
        dr_core::failover::Controller {
            store: &self.store,
            switch: &self.switch,
            notifier: &self.notifier,
            database: &self.recovery,
            settings: self.topology.failover.settings(),
            dr_region: self.topology.dr.region.to_string(),
        }
    }
}
