//! Flow C, database snapshots: a level-triggered controller.
//!
//! Each tick observes every snapshot of one database in the three places it lives —
//! primary's account in primary's region (the source), primary's account in the DR region
//! (the re-encrypted regional copy, shared with DR), and the DR account in the DR region
//! (DR's own copy, under DR's key) — and [`decide`]s the next actions from that alone. All
//! state lives in snapshot tags, so a crash between any two steps is repaired by the next
//! tick, and running two ticks at once at worst repeats an idempotent step.
//!
//! [`service`] holds the use cases the snapshot controller and a failover run.
//!
//! Ours are marked by the [`TAG_MANAGED`] tag; a snapshot without it is never copied,
//! never pruned and never counted towards the RPO.

mod carry_back;
mod decide;
mod directory;
pub mod global;
mod naming;
mod restore;
pub mod service;
mod sources;
mod tick;

pub use carry_back::{
    carried_name, final_name, FailbackStore, FoundSnapshot, Retirement, RetiringDatabase,
    TAG_CARRIED_FROM,
};
pub use decide::{decide, Action, Blocked, Plan};
pub use directory::{parameter_name, DatabaseDirectory, DatabaseLocation};
pub use global::{
    GlobalSecondary, GlobalSecondaryPolicy, GlobalSecondaryStore, Lag, NoGlobalSecondary,
    GLOBAL_SECONDARY,
};
pub use naming::{
    check_identifier, failover_target, owned_by, restore_tags, InvalidTarget, RDS_IDENTIFIER_MAX,
    TAG_DATA_TIME, TAG_RESTORE_SOURCE, TAG_RUNBOOK,
};
pub use restore::{
    cluster_instance, converge, restore_newest, start_restore, DatabaseEndpoint, DatabaseRestorer,
    DescribedDatabase, InstanceCreation, Progress, RestoreError, RestoreRequest, Restored,
    RESTORE_DEAD_ENDS,
};
pub use service::{tick_all, DatabaseTick, SnapshotRecovery, SnapshotTicks, Stores};
pub use sources::{
    ensure_backup_replication, newest_first, observe_all_sources, observe_sources,
    start_failover_restore, FailoverRestore, ReplicatedBackup, ReplicatedBackupStore,
    ReplicationState, RestoreSource, SourceReport, REPLICATED_BACKUPS, SNAPSHOT_COPY,
};
pub use tick::{tick, SnapshotStore, TickReport};

use std::collections::BTreeMap;

use crate::time::EpochMillis;

/// RDS allows 20 snapshot copies in flight into one destination region.
pub const MAX_COPIES_IN_FLIGHT: usize = 20;

/// Set on every snapshot this tool creates or copies: `true`.
pub const TAG_MANAGED: &str = "dr:managed";
/// The database the snapshot is of.
pub const TAG_DATABASE: &str = "dr:database";
/// Creation time of the *source* snapshot in primary (epoch ms): the RPO is measured from it.
pub const TAG_SOURCE_TIME: &str = "dr:source-time";
/// The id of the source snapshot in primary; links each copy to its origin.
pub const TAG_SOURCE_SNAPSHOT: &str = "dr:source-snapshot";

/// Where a snapshot lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// Primary's account, primary's region: where snapshots are taken.
    Source,
    /// Primary's account, DR region: the cross-region copy, shared with DR.
    Regional,
    /// DR's account, DR region: DR's own copy, encrypted with DR's key. Restorable.
    Dr,
}

/// A snapshot's lifecycle state, as RDS reports it (`creating`, `copying`, `available`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotState {
    /// Being created or copied.
    InProgress,
    /// Usable.
    Available,
    /// Failed, incompatible or otherwise unusable.
    Failed,
}

impl SnapshotState {
    /// Map an RDS status string.
    pub fn from_rds(status: &str) -> Self {
        match status {
            "available" => Self::Available,
            "creating" | "copying" | "pending" | "modifying" => Self::InProgress,
            _ => Self::Failed,
        }
    }
}

/// One observed snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its identifier (unique per account and region).
    pub id: String,
    /// Its ARN, used as the source of a copy.
    pub arn: String,
    /// Where it lives.
    pub location: Location,
    /// Its state.
    pub state: SnapshotState,
    /// When RDS created it (this copy, not the source).
    pub created_ms: EpochMillis,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// The KMS key it is encrypted with, if encrypted.
    pub kms_key_id: Option<String>,
    /// Whether that key is AWS-managed (`aws/rds`), which can never be shared.
    pub aws_managed_key: bool,
    /// Accounts it is shared with (the `restore` attribute).
    pub shared_with: Vec<String>,
}

impl Snapshot {
    /// Whether this tool made it.
    pub fn managed(&self) -> bool {
        self.tags.get(TAG_MANAGED).map(String::as_str) == Some("true")
    }

    /// The source snapshot's creation time, from the tag (copies) or its own (sources).
    pub fn source_time_ms(&self) -> Option<EpochMillis> {
        match self.location {
            Location::Source => Some(self.created_ms),
            _ => self.tags.get(TAG_SOURCE_TIME)?.parse().ok(),
        }
    }

    /// The source snapshot this one descends from (itself for a source).
    pub fn source_id(&self) -> Option<&str> {
        match self.location {
            Location::Source => Some(&self.id),
            _ => self.tags.get(TAG_SOURCE_SNAPSHOT).map(String::as_str),
        }
    }
}

/// How one database is protected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotPolicy {
    /// The database (instance or cluster identifier).
    pub database: String,
    /// Take a new snapshot when the newest is older than this.
    pub interval_ms: EpochMillis,
    /// Keep at most this many managed snapshots on each side.
    pub keep_count: usize,
    /// Delete managed snapshots older than this (the newest restorable DR one excepted).
    pub max_age_ms: EpochMillis,
    /// Primary's customer-managed key in the DR region, for the regional copy.
    pub regional_kms_key: String,
    /// DR's own key, for DR's copy.
    pub dr_kms_key: String,
    /// The DR account, to share the regional copy with.
    pub dr_account: String,
    /// Copies allowed in flight into one region (RDS's quota is 20).
    pub max_copies_in_flight: usize,
    /// Where and how a restore of this database lands in DR.
    pub restore: RestoreSettings,
    /// RDS's cross-Region replication of its automated backups, if configured.
    pub backup_replication: Option<BackupReplicationPolicy>,
    /// Its Aurora global database's secondary in the DR region, if configured.
    pub global_secondary: Option<GlobalSecondaryPolicy>,
}

/// A database's automated backups replicated into the DR region (primary's account).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupReplicationPolicy {
    /// Days RDS keeps them there.
    pub retention_days: u32,
    /// Where and how a point-in-time restore from them lands.
    pub restore: RestoreSettings,
}

/// Where and how a restored database lands in DR: in the application's own network (its
/// DB subnet group and security groups), with its parameter and option groups, never
/// publicly accessible. Unset groups leave RDS's defaults (for a subnet group: the default
/// VPC, which `drctl readiness` reports as a failure).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RestoreSettings {
    /// The DB subnet group in DR (the application's VPC and subnets).
    pub subnet_group: Option<String>,
    /// VPC security group ids in DR; none: the VPC's default group.
    pub security_group_ids: Vec<String>,
    /// DB parameter group (an instance, or a cluster's instances).
    pub parameter_group: Option<String>,
    /// DB cluster parameter group (Aurora).
    pub cluster_parameter_group: Option<String>,
    /// Option group (instances).
    pub option_group: Option<String>,
    /// Instance class; unset: the snapshot's (instances) or `db.r6g.large` (Aurora).
    pub instance_class: Option<String>,
    /// Multi-AZ (instances).
    pub multi_az: bool,
    /// Deletion protection (off for drills' scratch databases, which are deleted after).
    pub deletion_protection: bool,
    /// Aurora: how many DB instances the restored cluster gets (a cluster with none
    /// serves nothing); the first is the writer.
    pub instances: u32,
}

impl RestoreSettings {
    /// The instance class an Aurora cluster's instances get when none is configured.
    pub const DEFAULT_CLUSTER_INSTANCE_CLASS: &'static str = "db.r6g.large";

    /// The same for a drill's scratch database: deleted after, so no deletion protection.
    pub fn for_scratch(&self) -> Self {
        Self {
            deletion_protection: false,
            ..self.clone()
        }
    }
}

/// Whether the database is an RDS instance or an Aurora cluster: the APIs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatabaseKind {
    /// An RDS DB instance (DB snapshots).
    Instance,
    /// An Aurora DB cluster (DB cluster snapshots).
    Cluster,
}
