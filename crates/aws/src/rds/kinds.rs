//! What differs between an RDS DB instance and an Aurora DB cluster, and nothing else: which
//! SDK call does each step (DB snapshots or DB cluster snapshots, instances or clusters),
//! which fields of its answer to read, and which error codes mean "already there" or
//! "gone". Each method is a two-row table, one SDK call per kind; the store in the parent
//! module writes the logic around them once.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_snapshots::DescribeDbSnapshotsOutput;
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use dr_core::port::PortError;
use dr_core::snapshots::{DatabaseKind, InstanceCreation, RestoreSettings};

use crate::call::{CallError, Calls, Tolerate};

/// Where a call goes: one account and region's RDS, counted with the store's calls.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rds<'a> {
    pub(super) client: &'a Client,
    pub(super) calls: &'a Calls,
}

impl Rds<'_> {
    async fn send<T, E, F>(
        self,
        operation: &str,
        request: impl FnOnce() -> F,
    ) -> Result<T, CallError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        self.calls.send(operation, request).await
    }
}

/// The error codes that mean something other than a failure to a kind's callers. RDS names
/// them per kind; the sandbox (moto) spells a few cluster ones without `Fault`.
#[derive(Debug)]
pub(super) struct Codes {
    /// A create or copy of a snapshot that is there already.
    pub(super) snapshot_exists: &'static [&'static str],
    /// A snapshot that is not there (deleted meanwhile).
    pub(super) snapshot_gone: &'static [&'static str],
    /// A restore into a database that is there already.
    pub(super) database_exists: &'static [&'static str],
    /// A database that is not there.
    pub(super) database_gone: &'static [&'static str],
    /// A database in a state that refuses the call (e.g. already deleting).
    pub(super) database_busy: &'static [&'static str],
}

static INSTANCE_CODES: Codes = Codes {
    snapshot_exists: &["DBSnapshotAlreadyExists"],
    snapshot_gone: &["DBSnapshotNotFound"],
    database_exists: &["DBInstanceAlreadyExists"],
    database_gone: &["DBInstanceNotFound"],
    database_busy: &["InvalidDBInstanceState"],
};

static CLUSTER_CODES: Codes = Codes {
    snapshot_exists: &[
        "DBClusterSnapshotAlreadyExistsFault",
        "DBClusterSnapshotAlreadyExists",
    ],
    snapshot_gone: &[
        "DBClusterSnapshotNotFoundFault",
        "DBClusterSnapshotNotFound",
    ],
    database_exists: &["DBClusterAlreadyExistsFault"],
    database_gone: &["DBClusterNotFoundFault"],
    database_busy: &["InvalidDBClusterStateFault"],
};

/// A snapshot as either kind's listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listed {
    pub(super) id: String,
    pub(super) arn: String,
    pub(super) status: String,
    pub(super) created_ms: i64,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) kms_key_id: Option<String>,
}

/// A database as either kind's description reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Described {
    pub(super) status: String,
    pub(super) address: Option<String>,
    pub(super) port: Option<i32>,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) deletion_protection: bool,
}

/// The per-kind SDK calls and field readers of one kind of database.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kind(pub(super) DatabaseKind);

/// Instances: DB instances and DB snapshots.
pub(super) const INSTANCES: Kind = Kind(DatabaseKind::Instance);

impl Kind {
    /// This kind's error codes.
    pub(super) fn codes(self) -> &'static Codes {
        match self.0 {
            DatabaseKind::Instance => &INSTANCE_CODES,
            DatabaseKind::Cluster => &CLUSTER_CODES,
        }
    }

    /// Every manual snapshot of this kind, all pages.
    pub(super) async fn snapshots(self, rds: Rds<'_>) -> Result<Vec<Listed>, CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let page = |marker| {
                    rds.client
                        .describe_db_snapshots()
                        .snapshot_type("manual")
                        .set_marker(marker)
                        .send()
                };
                let split = |page: DescribeDbSnapshotsOutput| {
                    let listed = page.db_snapshots().iter().map(|s| Listed {
                        id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
                        arn: s.db_snapshot_arn().unwrap_or_default().to_owned(),
                        status: s.status().unwrap_or_default().to_owned(),
                        created_ms: millis(s.snapshot_create_time()),
                        tags: tags(s.tag_list()),
                        kms_key_id: s.kms_key_id().map(str::to_owned),
                    });
                    (listed.collect(), page.marker)
                };
                rds.calls.pages("DescribeDBSnapshots", page, split).await
            }
            DatabaseKind::Cluster => {
                let page = |marker| {
                    rds.client
                        .describe_db_cluster_snapshots()
                        .snapshot_type("manual")
                        .set_marker(marker)
                        .send()
                };
                let split = |page: DescribeDbClusterSnapshotsOutput| {
                    let listed = page.db_cluster_snapshots().iter().map(|s| Listed {
                        id: s
                            .db_cluster_snapshot_identifier()
                            .unwrap_or_default()
                            .to_owned(),
                        arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_owned(),
                        status: s.status().unwrap_or_default().to_owned(),
                        created_ms: millis(s.snapshot_create_time()),
                        tags: tags(s.tag_list()),
                        kms_key_id: s.kms_key_id().map(str::to_owned),
                    });
                    (listed.collect(), page.marker)
                };
                rds.calls
                    .pages("DescribeDBClusterSnapshots", page, split)
                    .await
            }
        }
    }

    /// The values of a snapshot's attribute `name` (`restore`: who may restore it).
    pub(super) async fn attribute(
        self,
        rds: Rds<'_>,
        snapshot_id: &str,
        name: &str,
    ) -> Result<Vec<String>, CallError> {
        let values = |attribute_name: Option<&str>, values: &[String]| {
            if attribute_name == Some(name) {
                values.to_vec()
            } else {
                Vec::new()
            }
        };
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .describe_db_snapshot_attributes()
                    .db_snapshot_identifier(snapshot_id);
                let output = rds
                    .send("DescribeDBSnapshotAttributes", || request.send())
                    .await?;
                let attributes = output
                    .db_snapshot_attributes_result()
                    .map(|r| r.db_snapshot_attributes())
                    .unwrap_or_default();
                Ok(attributes
                    .iter()
                    .flat_map(|a| values(a.attribute_name(), a.attribute_values()))
                    .collect())
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .describe_db_cluster_snapshot_attributes()
                    .db_cluster_snapshot_identifier(snapshot_id);
                let output = rds
                    .send("DescribeDBClusterSnapshotAttributes", || request.send())
                    .await?;
                let attributes = output
                    .db_cluster_snapshot_attributes_result()
                    .map(|r| r.db_cluster_snapshot_attributes())
                    .unwrap_or_default();
                Ok(attributes
                    .iter()
                    .flat_map(|a| values(a.attribute_name(), a.attribute_values()))
                    .collect())
            }
        }
    }

    /// Snapshot `database` as `snapshot_id`, tagged.
    pub(super) async fn create_snapshot(
        self,
        rds: Rds<'_>,
        database: &str,
        snapshot_id: &str,
        tags: Vec<Tag>,
    ) -> Result<(), CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .create_db_snapshot()
                    .db_instance_identifier(database)
                    .db_snapshot_identifier(snapshot_id)
                    .set_tags(Some(tags));
                rds.send("CreateDBSnapshot", || request.send())
                    .await
                    .map(drop)
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(database)
                    .db_cluster_snapshot_identifier(snapshot_id)
                    .set_tags(Some(tags));
                let created = rds.send("CreateDBClusterSnapshot", || request.send());
                created.await.map(drop)
            }
        }
    }

    /// Copy `source_arn` to `target_id` under `kms_key`, tagged.
    pub(super) async fn copy_snapshot(
        self,
        rds: Rds<'_>,
        source_arn: &str,
        target_id: &str,
        kms_key: &str,
        tags: Vec<Tag>,
    ) -> Result<(), CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .copy_db_snapshot()
                    .source_db_snapshot_identifier(source_arn)
                    .target_db_snapshot_identifier(target_id)
                    .kms_key_id(kms_key)
                    .set_tags(Some(tags));
                rds.send("CopyDBSnapshot", || request.send())
                    .await
                    .map(drop)
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .copy_db_cluster_snapshot()
                    .source_db_cluster_snapshot_identifier(source_arn)
                    .target_db_cluster_snapshot_identifier(target_id)
                    .kms_key_id(kms_key)
                    .set_tags(Some(tags));
                let copied = rds.send("CopyDBClusterSnapshot", || request.send());
                copied.await.map(drop)
            }
        }
    }

    /// Add `value` to the snapshot's attribute `name`.
    pub(super) async fn add_to_attribute(
        self,
        rds: Rds<'_>,
        snapshot_id: &str,
        name: &str,
        value: &str,
    ) -> Result<(), CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .modify_db_snapshot_attribute()
                    .db_snapshot_identifier(snapshot_id)
                    .attribute_name(name)
                    .values_to_add(value);
                let modified = rds.send("ModifyDBSnapshotAttribute", || request.send());
                modified.await.map(drop)
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .modify_db_cluster_snapshot_attribute()
                    .db_cluster_snapshot_identifier(snapshot_id)
                    .attribute_name(name)
                    .values_to_add(value);
                let modified = rds.send("ModifyDBClusterSnapshotAttribute", || request.send());
                modified.await.map(drop)
            }
        }
    }

    /// Delete a snapshot.
    pub(super) async fn delete_snapshot(
        self,
        rds: Rds<'_>,
        snapshot_id: &str,
    ) -> Result<(), CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .delete_db_snapshot()
                    .db_snapshot_identifier(snapshot_id);
                rds.send("DeleteDBSnapshot", || request.send())
                    .await
                    .map(drop)
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .delete_db_cluster_snapshot()
                    .db_cluster_snapshot_identifier(snapshot_id);
                let deleted = rds.send("DeleteDBClusterSnapshot", || request.send());
                deleted.await.map(drop)
            }
        }
    }

    /// Restore `snapshot_id` into a new database `target`, tagged, placed as `settings` say
    /// and never publicly accessible; already there (an earlier, interrupted restore, or
    /// someone else's: the caller reads its tags) counts as done. An Aurora cluster is
    /// restored alone: RDS takes its DB instances only once it is available.
    pub(super) async fn restore(
        self,
        rds: Rds<'_>,
        snapshot_id: &str,
        target: &str,
        settings: &RestoreSettings,
        tags: Vec<Tag>,
    ) -> Result<(), PortError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .restore_db_instance_from_db_snapshot()
                    .db_snapshot_identifier(snapshot_id)
                    .db_instance_identifier(target)
                    .set_db_subnet_group_name(settings.subnet_group.clone())
                    .set_vpc_security_group_ids(some(&settings.security_group_ids))
                    .set_db_parameter_group_name(settings.parameter_group.clone())
                    .set_option_group_name(settings.option_group.clone())
                    .set_db_instance_class(settings.instance_class.clone())
                    .multi_az(settings.multi_az)
                    .deletion_protection(settings.deletion_protection)
                    // A patient database is never reachable from the internet.
                    .publicly_accessible(false)
                    .set_tags(Some(tags));
                let restored = rds.send("RestoreDBInstanceFromDBSnapshot", || request.send());
                restored.await.done_on(INSTANCE_CODES.database_exists)
            }
            DatabaseKind::Cluster => {
                restore_cluster(rds, snapshot_id, target, settings, tags).await
            }
        }
    }

    /// The database `target` (`None`: RDS listed none).
    pub(super) async fn describe(
        self,
        rds: Rds<'_>,
        target: &str,
    ) -> Result<Option<Described>, CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .describe_db_instances()
                    .db_instance_identifier(target);
                let output = rds.send("DescribeDBInstances", || request.send()).await?;
                Ok(output.db_instances().first().map(|db| Described {
                    status: db.db_instance_status().unwrap_or_default().to_owned(),
                    address: db.endpoint().and_then(|e| e.address()).map(str::to_owned),
                    port: db.endpoint().and_then(|e| e.port()),
                    tags: tags(db.tag_list()),
                    deletion_protection: db.deletion_protection().unwrap_or(false),
                }))
            }
            DatabaseKind::Cluster => {
                let output = describe_cluster(rds, target).await?;
                Ok(output.db_clusters().first().map(|db| Described {
                    status: db.status().unwrap_or_default().to_owned(),
                    address: db.endpoint().map(str::to_owned),
                    port: db.port(),
                    tags: tags(db.tag_list()),
                    deletion_protection: db.deletion_protection().unwrap_or(false),
                }))
            }
        }
    }

    /// The DB instances that must be deleting before `target` itself can be deleted.
    pub(super) async fn members(
        self,
        rds: Rds<'_>,
        target: &str,
    ) -> Result<Vec<String>, CallError> {
        match self.0 {
            DatabaseKind::Instance => Ok(Vec::new()),
            DatabaseKind::Cluster => {
                let output = describe_cluster(rds, target).await?;
                Ok(output
                    .db_clusters()
                    .iter()
                    .flat_map(|c| c.db_cluster_members())
                    .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
                    .collect())
            }
        }
    }

    /// The manual snapshot `snapshot_id` (`None`: RDS listed none; not found is the
    /// caller's to tolerate).
    pub(super) async fn snapshot(
        self,
        rds: Rds<'_>,
        snapshot_id: &str,
    ) -> Result<Option<Listed>, CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .describe_db_snapshots()
                    .db_snapshot_identifier(snapshot_id);
                let output = rds.send("DescribeDBSnapshots", || request.send()).await?;
                Ok(output.db_snapshots().first().map(|s| Listed {
                    id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
                    arn: s.db_snapshot_arn().unwrap_or_default().to_owned(),
                    status: s.status().unwrap_or_default().to_owned(),
                    created_ms: millis(s.snapshot_create_time()),
                    tags: tags(s.tag_list()),
                    kms_key_id: s.kms_key_id().map(str::to_owned),
                }))
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .describe_db_cluster_snapshots()
                    .db_cluster_snapshot_identifier(snapshot_id);
                let output = rds
                    .send("DescribeDBClusterSnapshots", || request.send())
                    .await?;
                Ok(output.db_cluster_snapshots().first().map(|s| Listed {
                    id: s
                        .db_cluster_snapshot_identifier()
                        .unwrap_or_default()
                        .to_owned(),
                    arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_owned(),
                    status: s.status().unwrap_or_default().to_owned(),
                    created_ms: millis(s.snapshot_create_time()),
                    tags: tags(s.tag_list()),
                    kms_key_id: s.kms_key_id().map(str::to_owned),
                }))
            }
        }
    }

    /// Delete `target`, RDS taking `final_snapshot` of it first (a cluster's own; its DB
    /// instances are deleted before it, without one).
    pub(super) async fn delete_keeping(
        self,
        rds: Rds<'_>,
        target: &str,
        final_snapshot: &str,
    ) -> Result<(), CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .delete_db_instance()
                    .db_instance_identifier(target)
                    .skip_final_snapshot(false)
                    .final_db_snapshot_identifier(final_snapshot);
                rds.send("DeleteDBInstance", || request.send())
                    .await
                    .map(drop)
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .delete_db_cluster()
                    .db_cluster_identifier(target)
                    .skip_final_snapshot(false)
                    .final_db_snapshot_identifier(final_snapshot);
                rds.send("DeleteDBCluster", || request.send())
                    .await
                    .map(drop)
            }
        }
    }

    /// Delete `target` without a final snapshot.
    pub(super) async fn delete(self, rds: Rds<'_>, target: &str) -> Result<(), CallError> {
        match self.0 {
            DatabaseKind::Instance => {
                let request = rds
                    .client
                    .delete_db_instance()
                    .db_instance_identifier(target)
                    .skip_final_snapshot(true);
                rds.send("DeleteDBInstance", || request.send())
                    .await
                    .map(drop)
            }
            DatabaseKind::Cluster => {
                let request = rds
                    .client
                    .delete_db_cluster()
                    .db_cluster_identifier(target)
                    .skip_final_snapshot(true);
                rds.send("DeleteDBCluster", || request.send())
                    .await
                    .map(drop)
            }
        }
    }
}

async fn describe_cluster(
    rds: Rds<'_>,
    target: &str,
) -> Result<DescribeDbClustersOutput, CallError> {
    let request = rds
        .client
        .describe_db_clusters()
        .db_cluster_identifier(target);
    rds.send("DescribeDBClusters", || request.send()).await
}

/// An Aurora restore: the cluster alone, on the snapshot's engine. Its DB instances come
/// later ([`create_cluster_instance`]): RDS refuses them until the cluster is available.
async fn restore_cluster(
    rds: Rds<'_>,
    snapshot_id: &str,
    target: &str,
    settings: &RestoreSettings,
    tags: Vec<Tag>,
) -> Result<(), PortError> {
    let request = rds
        .client
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(snapshot_id);
    let described = rds
        .send("DescribeDBClusterSnapshots", || request.send())
        .await?;
    let snapshot = described.db_cluster_snapshots().first().ok_or_else(|| {
        PortError::permanent(
            "DescribeDBClusterSnapshots",
            format!("no cluster snapshot {snapshot_id} in DR"),
        )
    })?;
    let engine = snapshot.engine().unwrap_or("aurora-postgresql");
    let request = rds
        .client
        .restore_db_cluster_from_snapshot()
        .snapshot_identifier(snapshot_id)
        .db_cluster_identifier(target)
        .engine(engine)
        .set_engine_version(snapshot.engine_version().map(str::to_owned))
        .set_db_subnet_group_name(settings.subnet_group.clone())
        .set_vpc_security_group_ids(some(&settings.security_group_ids))
        .set_db_cluster_parameter_group_name(settings.cluster_parameter_group.clone())
        .deletion_protection(settings.deletion_protection)
        .set_tags(Some(tags));
    let restored = rds.send("RestoreDBClusterFromSnapshot", || request.send());
    restored.await.done_on(CLUSTER_CODES.database_exists)
}

/// Create the DB instance `instance` in the restored cluster `cluster`, on the cluster's
/// engine: `Later` while RDS does not take instances into it yet
/// (`InvalidDBClusterStateFault`); already there is done.
pub(super) async fn create_cluster_instance(
    rds: Rds<'_>,
    cluster: &str,
    instance: &str,
    settings: &RestoreSettings,
    tags: Vec<Tag>,
) -> Result<InstanceCreation, PortError> {
    let described = describe_cluster(rds, cluster).await?;
    let Some(engine) = described.db_clusters().first().and_then(|c| c.engine()) else {
        return Err(PortError::permanent(
            "DescribeDBClusters",
            format!("cluster {cluster} has no engine to create {instance} on"),
        ));
    };
    let class = settings.instance_class.as_deref();
    let request = rds
        .client
        .create_db_instance()
        .db_instance_identifier(instance)
        .db_cluster_identifier(cluster)
        .engine(engine)
        .db_instance_class(class.unwrap_or(RestoreSettings::DEFAULT_CLUSTER_INSTANCE_CLASS))
        .set_db_parameter_group_name(settings.parameter_group.clone())
        .publicly_accessible(false)
        .set_tags(Some(tags));
    match rds.send("CreateDBInstance", || request.send()).await {
        Ok(_) => Ok(InstanceCreation::Started),
        Err(e) if e.is(INSTANCE_CODES.database_exists) => Ok(InstanceCreation::Started),
        // "You can create DB instances only after the RestoreDBClusterFromSnapshot
        // operation has completed and the DB cluster is available": later, not an error.
        Err(e) if e.is(CLUSTER_CODES.database_busy) => Ok(InstanceCreation::Later),
        Err(e) => Err(e.into()),
    }
}

/// `None` for an empty list, so the SDK leaves the parameter out (RDS's default applies).
fn some(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

fn millis(time: Option<&aws_smithy_types::DateTime>) -> i64 {
    time.and_then(|t| t.to_millis().ok()).unwrap_or_default()
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    let tag = |t: &Tag| {
        Some((
            t.key()?.to_owned(),
            t.value().unwrap_or_default().to_owned(),
        ))
    };
    list.iter().filter_map(tag).collect()
}

/// Tags as the SDK takes them.
pub(super) fn sdk_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}
