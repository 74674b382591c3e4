//! `[snapshots]`: flow C's protected databases, how often, how long snapshots are kept, and
//! where a restore lands in DR.

use serde::{Deserialize, Serialize};

use super::{optional_count, FieldError};
use crate::ids::{AccountId, Region, ResourceName};

/// Flow C: which databases are protected, how often, how long snapshots are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Primary's customer-managed KMS key *in the DR region* (alias or ARN): the regional copy
    /// is re-encrypted with it and the key policy lets the DR account use it.
    pub regional_kms_key: String,
    /// DR's own customer-managed key (alias or ARN) for DR's copy.
    pub dr_kms_key: String,
    /// Default interval between snapshots, in minutes.
    pub interval_minutes: u32,
    /// Default number of managed snapshots kept on each side.
    pub keep: usize,
    /// Default maximum age of managed snapshots, in hours.
    pub max_age_hours: u32,
    /// The protected databases.
    pub databases: Vec<DatabaseConfig>,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            regional_kms_key: "alias/dr-snapshots".to_owned(),
            dr_kms_key: "alias/dr-snapshots".to_owned(),
            interval_minutes: 240,
            keep: 7,
            max_age_hours: 168,
            databases: Vec::new(),
        }
    }
}

/// One protected database; unset values take the [`SnapshotConfig`] defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The DB instance or cluster identifier in primary.
    pub identifier: ResourceName,
    /// Instance or Aurora cluster.
    pub kind: crate::snapshots::DatabaseKind,
    /// Minutes between snapshots.
    #[serde(default)]
    pub interval_minutes: Option<u32>,
    /// Managed snapshots kept on each side.
    #[serde(default)]
    pub keep: Option<usize>,
    /// Maximum age in hours.
    #[serde(default)]
    pub max_age_hours: Option<u32>,
    /// Restores in DR go into this DB subnet group: the application's VPC there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_group: Option<ResourceName>,
    /// …with these VPC security groups (ids, `sg-…`); none: the VPC's default group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// DB parameter group in DR (an instance, or a cluster's instances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<ResourceName>,
    /// DB cluster parameter group in DR (Aurora).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_parameter_group: Option<ResourceName>,
    /// Option group in DR (instances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_group: Option<ResourceName>,
    /// Instance class of the restored instance (or of each Aurora instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_class: Option<String>,
    /// Multi-AZ (instances).
    #[serde(default)]
    pub multi_az: bool,
    /// Deletion protection on the restored database (a patient database: on by default).
    #[serde(default = "yes")]
    pub deletion_protection: bool,
    /// Aurora: DB instances the restored cluster gets (at least 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub instances: Option<u64>,
    /// RDS cross-Region automated backup replication into the DR region (instances only):
    /// a second restore source, point in time with an RPO of minutes, beside the snapshot
    /// copies (which alone survive losing primary's account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_replication: Option<BackupReplicationConfig>,
    /// The Secrets Manager secret in DR (its ARN, DR's account and region: a replica of
    /// primary's) holding the database's credentials. Named in the failover's database
    /// parameter, so the application in DR finds both in one read; readiness checks DR can
    /// reach it. A snapshot restore keeps the master user and its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_arn: Option<String>,
    /// Aurora Global Database (clusters only): the cluster's secondary in the DR region, a
    /// third restore source with a replication lag of about a second. A failover that finds
    /// its data newest detaches and promotes it in place (primary's account, DR region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_secondary: Option<GlobalSecondaryConfig>,
}

/// `[snapshots.databases.global_secondary]`: the secondary DB cluster of the protected
/// cluster's Aurora global database in the DR region. Aurora offers no cross-account
/// secondary, so it lives in primary's account there; a promotion reaches it through STS in
/// the DR region, never primary's region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalSecondaryConfig {
    /// The secondary DB cluster's identifier (primary's account, DR region).
    pub cluster: ResourceName,
    /// DB instances the promoted cluster must have; a headless secondary gets them created
    /// after promotion. Unset: the database's `instances` (at least 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub instances: Option<u64>,
}

/// `[snapshots.databases.backup_replication]`: RDS replicates the instance's automated
/// backups (snapshots and transaction logs) into the DR region *within primary's account*
/// (RDS replicates no backups across accounts). A restore from them lands there, in the
/// network named here, which the application in DR must reach (a shared VPC subnet, or
/// peering): say so in the runbook of the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupReplicationConfig {
    /// Days of replicated backups RDS keeps in the DR region (1–35).
    #[serde(default = "seven")]
    pub retention_days: u32,
    /// The DB subnet group (primary's account, DR region) a restore from them goes into.
    pub subnet_group: ResourceName,
    /// …with these VPC security groups (ids, `sg-…`); none: the VPC's default group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// DB parameter group there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<ResourceName>,
    /// Option group there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_group: Option<ResourceName>,
}

fn yes() -> bool {
    true
}

fn seven() -> u32 {
    7
}

impl DatabaseConfig {
    /// A database protected with every default (tests, simple configs).
    pub fn named(identifier: ResourceName, kind: crate::snapshots::DatabaseKind) -> Self {
        Self {
            identifier,
            kind,
            interval_minutes: None,
            keep: None,
            max_age_hours: None,
            subnet_group: None,
            security_group_ids: Vec::new(),
            parameter_group: None,
            cluster_parameter_group: None,
            option_group: None,
            instance_class: None,
            multi_az: false,
            deletion_protection: true,
            instances: None,
            backup_replication: None,
            credentials_secret_arn: None,
            global_secondary: None,
        }
    }

    /// How and where a restore from its replicated automated backups lands: the
    /// replication's network and groups, the rest as for a restore of a snapshot copy.
    pub fn backup_replication_policy(&self) -> Option<crate::snapshots::BackupReplicationPolicy> {
        let replication = self.backup_replication.as_ref()?;
        let name = |n: &Option<ResourceName>| n.as_ref().map(ToString::to_string);
        Some(crate::snapshots::BackupReplicationPolicy {
            retention_days: replication.retention_days,
            restore: crate::snapshots::RestoreSettings {
                subnet_group: Some(replication.subnet_group.to_string()),
                security_group_ids: replication.security_group_ids.clone(),
                parameter_group: name(&replication.parameter_group),
                option_group: name(&replication.option_group),
                ..self.restore_settings()
            },
        })
    }

    /// What a restore of it in DR needs.
    pub fn restore_settings(&self) -> crate::snapshots::RestoreSettings {
        let name = |n: &Option<ResourceName>| n.as_ref().map(ToString::to_string);
        crate::snapshots::RestoreSettings {
            subnet_group: name(&self.subnet_group),
            security_group_ids: self.security_group_ids.clone(),
            parameter_group: name(&self.parameter_group),
            cluster_parameter_group: name(&self.cluster_parameter_group),
            option_group: name(&self.option_group),
            instance_class: self.instance_class.clone(),
            multi_az: self.multi_az,
            deletion_protection: self.deletion_protection,
            instances: self.instances.map_or(1, |n| n as u32),
        }
    }
}

impl SnapshotConfig {
    /// The snapshot policy of every protected database, for the DR account `dr_account`.
    pub fn policies(
        &self,
        dr_account: &AccountId,
    ) -> Vec<(
        crate::snapshots::DatabaseKind,
        crate::snapshots::SnapshotPolicy,
    )> {
        const MINUTE_MS: i64 = 60_000;
        self.databases
            .iter()
            .map(|db| {
                let policy = crate::snapshots::SnapshotPolicy {
                    database: db.identifier.to_string(),
                    interval_ms: i64::from(db.interval_minutes.unwrap_or(self.interval_minutes))
                        * MINUTE_MS,
                    keep_count: db.keep.unwrap_or(self.keep),
                    max_age_ms: i64::from(db.max_age_hours.unwrap_or(self.max_age_hours))
                        * 60
                        * MINUTE_MS,
                    regional_kms_key: self.regional_kms_key.clone(),
                    dr_kms_key: self.dr_kms_key.clone(),
                    dr_account: dr_account.to_string(),
                    max_copies_in_flight: crate::snapshots::MAX_COPIES_IN_FLIGHT,
                    restore: db.restore_settings(),
                    backup_replication: db.backup_replication_policy(),
                    global_secondary: db.global_secondary.as_ref().map(|g| {
                        crate::snapshots::GlobalSecondaryPolicy {
                            cluster: g.cluster.to_string(),
                            instances: g.instances.or(db.instances).map_or(1, |n| n as u32),
                            instance_class: db.instance_class.clone(),
                        }
                    }),
                };
                (db.kind, policy)
            })
            .collect()
    }

    /// Each key lives in the DR region: the regional key in `primary_account`, DR's key in
    /// `dr_account`. When the two accounts are one, one alias there names one key.
    pub(super) fn check(
        &self,
        primary_account: &AccountId,
        dr_account: &AccountId,
        dr_region: &Region,
    ) -> Result<(), FieldError> {
        for (i, db) in self.databases.iter().enumerate() {
            db.check(i)?;
            db.check_secret(i, dr_account, dr_region)?;
        }
        for (field, key, account) in [
            (
                "snapshots.regional_kms_key",
                &self.regional_kms_key,
                primary_account,
            ),
            ("snapshots.dr_kms_key", &self.dr_kms_key, dr_account),
        ] {
            check_key(field, key, account, dr_region)?;
        }
        if primary_account == dr_account {
            let (account, region) = (dr_account, dr_region);
            if self.regional_kms_key.starts_with("alias/")
                && self.regional_kms_key == self.dr_kms_key
            {
                return Err(FieldError::new(
                    "snapshots.dr_kms_key",
                    format!(
                        "both sides are account {account}, so the regional key and DR's key live in one \
                         account and region ({region}), where {} can name only one key: give DR's key \
                         another alias",
                        self.dr_kms_key
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A snapshot key is a customer-managed key we can share: `alias/<name>` (the deployment
/// creates it), or the ARN of an existing key in `account` and the DR region, where the
/// copies are made. The AWS-managed `alias/aws/rds` cannot be shared across accounts.
fn check_key(
    field: &str,
    key: &str,
    account: &AccountId,
    region: &Region,
) -> Result<(), FieldError> {
    let alias = key.strip_prefix("alias/").filter(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    });
    if let Some(name) = alias {
        if name.starts_with("aws/") {
            return Err(FieldError::new(
                field,
                format!(
                    "{key} is AWS-managed and cannot be shared with another account: \
                     name a customer-managed key (alias/<name> or its ARN)"
                ),
            ));
        }
        return Ok(());
    }
    let arn_middle = format!(":kms:{region}:{account}:key/");
    let is_key_arn = key.split_once(&arn_middle).is_some_and(|(partition, id)| {
        matches!(partition, "arn:aws" | "arn:aws-cn" | "arn:aws-us-gov")
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if is_key_arn {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        format!(
            "{key:?}: expected alias/<name>, or a key ARN in account {account}, region {region}"
        ),
    ))
}

impl DatabaseConfig {
    /// The credentials secret lives where the application in DR reads it: DR's account and
    /// region (a replica keeps the primary secret's name and suffix).
    fn check_secret(
        &self,
        i: usize,
        dr_account: &AccountId,
        dr_region: &Region,
    ) -> Result<(), FieldError> {
        let Some(arn) = &self.credentials_secret_arn else {
            return Ok(());
        };
        let middle = format!(":secretsmanager:{dr_region}:{dr_account}:secret:");
        let ok = arn.split_once(&middle).is_some_and(|(partition, name)| {
            matches!(partition, "arn:aws" | "arn:aws-cn" | "arn:aws-us-gov")
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
        });
        if ok {
            return Ok(());
        }
        Err(FieldError::new(
            format!("snapshots.databases[{i}].credentials_secret_arn"),
            format!("{arn:?}: expected a secret ARN in DR (account {dr_account}, region {dr_region}): the replica the application reads there"),
        ))
    }

    fn check(&self, i: usize) -> Result<(), FieldError> {
        let field = |key: &str| format!("snapshots.databases[{i}]{key}");
        // Each failover restores into `<identifier>-failover-<ms>` (and a cluster's
        // instances add `-<n>`): the identifier must leave RDS room for that.
        if let Err(error) =
            crate::snapshots::failover_target(self.identifier.as_str(), "failover-0000000000000")
        {
            return Err(FieldError::new(
                field(".identifier"),
                format!(
                    "too long or not an RDS identifier for a failover's restore: {error}; \
                     failover restores into <identifier>-failover-<13 digits>"
                ),
            ));
        }
        if self.instances == Some(0) {
            return Err(FieldError::new(
                field(".instances"),
                "must be at least 1: a restored cluster without an instance serves nothing",
            ));
        }
        if let Some(bad) = self
            .security_group_ids
            .iter()
            .find(|g| !g.starts_with("sg-"))
        {
            return Err(FieldError::new(
                field(".security_group_ids"),
                format!("{bad:?} is not a security group id (sg-…)"),
            ));
        }
        if let Some(secondary) = &self.global_secondary {
            if self.kind != crate::snapshots::DatabaseKind::Cluster {
                return Err(FieldError::new(
                    field(".global_secondary"),
                    "Aurora Global Database is for Aurora clusters only; an instance's \
                     cross-region option is backup_replication",
                ));
            }
            if let Err(error) = crate::snapshots::check_identifier(
                secondary.cluster.as_str(),
                crate::snapshots::RDS_IDENTIFIER_MAX - 3,
            ) {
                return Err(FieldError::new(
                    field(".global_secondary.cluster"),
                    format!(
                        "not an RDS cluster identifier with room for its instances' -<n>: {error}"
                    ),
                ));
            }
            if secondary.instances == Some(0) {
                return Err(FieldError::new(
                    field(".global_secondary.instances"),
                    "must be at least 1: a promoted cluster without an instance serves nothing",
                ));
            }
        }
        let Some(replication) = &self.backup_replication else {
            return Ok(());
        };
        if self.kind != crate::snapshots::DatabaseKind::Instance {
            return Err(FieldError::new(
                field(".backup_replication"),
                "RDS replicates automated backups across regions for DB instances \
                 only; an Aurora cluster's cross-region option is Aurora Global \
                 Database",
            ));
        }
        if !(1..=35).contains(&replication.retention_days) {
            return Err(FieldError::new(
                field(".backup_replication.retention_days"),
                format!("{} is outside RDS's 1–35 days", replication.retention_days),
            ));
        }
        if let Some(bad) = replication
            .security_group_ids
            .iter()
            .find(|g| !g.starts_with("sg-"))
        {
            return Err(FieldError::new(
                field(".backup_replication.security_group_ids"),
                format!("{bad:?} is not a security group id (sg-…)"),
            ));
        }
        Ok(())
    }
}
