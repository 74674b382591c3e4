//! [`SnapshotStore`] on RDS in three places: primary's account in primary's region (the
//! source), primary's account in the DR region (the regional copy) and DR's account in the
//! DR region (DR's own copy). Instances use DB snapshots, Aurora clusters DB cluster
//! snapshots; the controller does not know the difference.
//!
//! Cross-region copies need no `PreSignedUrl` in commercial regions (RDS ignores it there);
//! GovCloud requires one, which this store does not sign: a GovCloud deployment must add it.

use dr_core::port::PortError;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use dr_core::snapshots::{
    DatabaseEndpoint, DatabaseKind, DatabaseRestorer, Location, RestoreSettings, Snapshot,
    SnapshotState, SnapshotStore, Stores,
};
use dr_core::{Side, Topology};

use crate::error::{code, port_error};
use crate::AwsSession;

/// Both kinds' stores, as flow C's use cases take them.
#[derive(Debug)]
pub struct RdsStores {
    instance: RdsSnapshotStore,
    cluster: RdsSnapshotStore,
}

impl RdsStores {
    /// The stores of `topology`.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            instance: RdsSnapshotStore::new(session, topology, DatabaseKind::Instance),
            cluster: RdsSnapshotStore::new(session, topology, DatabaseKind::Cluster),
        }
    }

    /// API calls made by both stores.
    pub fn calls(&self) -> u64 {
        self.instance.calls() + self.cluster.calls()
    }
}

impl Stores for RdsStores {
    type Store = RdsSnapshotStore;

    fn of(&self, kind: DatabaseKind) -> &RdsSnapshotStore {
        match kind {
            DatabaseKind::Instance => &self.instance,
            DatabaseKind::Cluster => &self.cluster,
        }
    }
}

/// RDS snapshots of one kind of database, on both sides.
#[derive(Debug)]
pub struct RdsSnapshotStore {
    kind: DatabaseKind,
    source: Client,
    regional: Client,
    dr: Client,
    source_kms: aws_sdk_kms::Client,
    calls: AtomicU64,
}

impl RdsSnapshotStore {
    /// The store for databases of `kind` in `topology`.
    pub fn new(session: &AwsSession, topology: &Topology, kind: DatabaseKind) -> Self {
        Self {
            kind,
            source: session.rds_in(Side::Primary, &topology.primary.region),
            regional: session.rds_in(Side::Primary, &topology.dr.region),
            dr: session.rds_in(Side::Dr, &topology.dr.region),
            source_kms: session.kms(Side::Primary),
            calls: AtomicU64::new(0),
        }
    }

    /// How many API calls this store has made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn client(&self, location: Location) -> &Client {
        match location {
            Location::Source => &self.source,
            Location::Regional => &self.regional,
            Location::Dr => &self.dr,
        }
    }

    /// Whether a key is AWS-managed (`aws/rds`): such snapshots can never be shared.
    async fn aws_managed(&self, key: &str) -> Result<bool, PortError> {
        if key.contains("alias/aws/") {
            return Ok(true);
        }
        self.count();
        match self.source_kms.describe_key().key_id(key).send().await {
            Ok(output) => Ok(output
                .key_metadata()
                .and_then(|m| m.key_manager())
                .is_some_and(|m| m.as_str() == "AWS")),
            // A key we cannot describe is one we cannot reason about; the copy will say more.
            Err(e) if code(&e) == Some("NotFoundException") => Ok(false),
            Err(e) => Err(port_error("DescribeKey", e)),
        }
    }

    async fn list(&self, location: Location, database: &str) -> Result<Vec<Snapshot>, PortError> {
        self.count();
        let client = self.client(location);
        let mut snapshots = Vec::new();
        match self.kind {
            DatabaseKind::Instance => {
                let found: Vec<_> = client
                    .describe_db_snapshots()
                    .snapshot_type("manual")
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| port_error("DescribeDBSnapshots", e))?;
                for s in found {
                    snapshots.push(Snapshot {
                        id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
                        arn: s.db_snapshot_arn().unwrap_or_default().to_owned(),
                        location,
                        state: SnapshotState::from_rds(s.status().unwrap_or_default()),
                        created_ms: millis(s.snapshot_create_time()),
                        tags: tags(s.tag_list()),
                        kms_key_id: s.kms_key_id().map(str::to_owned),
                        aws_managed_key: false,
                        shared_with: Vec::new(),
                    });
                }
            }
            DatabaseKind::Cluster => {
                let found: Vec<_> = client
                    .describe_db_cluster_snapshots()
                    .snapshot_type("manual")
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| port_error("DescribeDBClusterSnapshots", e))?;
                for s in found {
                    snapshots.push(Snapshot {
                        id: s
                            .db_cluster_snapshot_identifier()
                            .unwrap_or_default()
                            .to_owned(),
                        arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_owned(),
                        location,
                        state: SnapshotState::from_rds(s.status().unwrap_or_default()),
                        created_ms: millis(s.snapshot_create_time()),
                        tags: tags(s.tag_list()),
                        kms_key_id: s.kms_key_id().map(str::to_owned),
                        aws_managed_key: false,
                        shared_with: Vec::new(),
                    });
                }
            }
        }
        snapshots.retain(|s| {
            s.tags
                .get(dr_core::snapshots::TAG_DATABASE)
                .map(String::as_str)
                == Some(database)
        });
        Ok(snapshots)
    }

    async fn shared_with(&self, snapshot_id: &str) -> Result<Vec<String>, PortError> {
        self.count();
        let attributes: Vec<(String, Vec<String>)> = match self.kind {
            DatabaseKind::Instance => self
                .regional
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(snapshot_id)
                .send()
                .await
                .map_err(|e| port_error("DescribeDBSnapshotAttributes", e))?
                .db_snapshot_attributes_result()
                .map(|r| {
                    r.db_snapshot_attributes()
                        .iter()
                        .map(|a| {
                            (
                                a.attribute_name().unwrap_or_default().to_owned(),
                                a.attribute_values().to_vec(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            DatabaseKind::Cluster => self
                .regional
                .describe_db_cluster_snapshot_attributes()
                .db_cluster_snapshot_identifier(snapshot_id)
                .send()
                .await
                .map_err(|e| port_error("DescribeDBClusterSnapshotAttributes", e))?
                .db_cluster_snapshot_attributes_result()
                .map(|r| {
                    r.db_cluster_snapshot_attributes()
                        .iter()
                        .map(|a| {
                            (
                                a.attribute_name().unwrap_or_default().to_owned(),
                                a.attribute_values().to_vec(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(attributes
            .into_iter()
            .filter(|(name, _)| name == "restore")
            .flat_map(|(_, values)| values)
            .collect())
    }
}

/// `None` for an empty list, so the SDK leaves the parameter out (RDS's default applies).
fn some(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

impl RdsSnapshotStore {
    /// Starts deleting every instance of the DR cluster `cluster` (none if it is gone).
    async fn delete_cluster_members(&self, cluster: &str) -> Result<(), PortError> {
        let members: Vec<String> = match self
            .dr
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
        {
            Ok(output) => output
                .db_clusters()
                .iter()
                .flat_map(|c| c.db_cluster_members())
                .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
                .collect(),
            Err(e) if code(&e) == Some("DBClusterNotFoundFault") => return Ok(()),
            Err(e) => return Err(port_error("DescribeDBClusters", e)),
        };
        for member in members {
            match self
                .dr
                .delete_db_instance()
                .db_instance_identifier(&member)
                .skip_final_snapshot(true)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code(&e) == Some("DBInstanceNotFound") => {}
                // Already deleting: what we asked for.
                Err(e) if code(&e) == Some("InvalidDBInstanceState") => {}
                Err(e) => return Err(port_error("DeleteDBInstance", e)),
            }
        }
        Ok(())
    }
}

/// The `n`th DB instance of a restored Aurora cluster (1: the writer).
pub fn cluster_instance(cluster: &str, n: u32) -> String {
    format!("{cluster}-{n}")
}

fn millis(time: Option<&aws_smithy_types::DateTime>) -> i64 {
    time.and_then(|t| t.to_millis().ok()).unwrap_or_default()
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn sdk_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// "Already exists" on a create or copy means an earlier tick (or a concurrent one) did it.
fn already_done(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "DBSnapshotAlreadyExists"
                | "DBClusterSnapshotAlreadyExistsFault"
                | "DBClusterSnapshotAlreadyExists"
        )
    )
}

fn gone(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("DBSnapshotNotFound" | "DBClusterSnapshotNotFoundFault" | "DBClusterSnapshotNotFound")
    )
}

impl SnapshotStore for RdsSnapshotStore {
    async fn observe(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        let mut observed = self.list(Location::Source, database).await?;
        // A database's snapshots share its key: ask KMS once per key, not per snapshot.
        let mut managed_keys: HashMap<String, bool> = HashMap::new();
        for snapshot in &mut observed {
            if let Some(key) = &snapshot.kms_key_id {
                if !managed_keys.contains_key(key) {
                    let managed = self.aws_managed(key).await?;
                    managed_keys.insert(key.clone(), managed);
                }
                snapshot.aws_managed_key = managed_keys[key];
            }
        }
        let mut regional = self.list(Location::Regional, database).await?;
        for snapshot in &mut regional {
            snapshot.shared_with = self.shared_with(&snapshot.id).await?;
        }
        observed.extend(regional);
        observed.extend(self.list(Location::Dr, database).await?);
        Ok(observed)
    }

    async fn create_source(
        &self,
        database: &str,
        snapshot_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        self.count();
        let (operation, result) = match self.kind {
            DatabaseKind::Instance => (
                "CreateDBSnapshot",
                self.source
                    .create_db_snapshot()
                    .db_instance_identifier(database)
                    .db_snapshot_identifier(snapshot_id)
                    .set_tags(Some(sdk_tags(tags)))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        (
                            code(&e).map(str::to_owned),
                            port_error("CreateDBSnapshot", e),
                        )
                    }),
            ),
            DatabaseKind::Cluster => (
                "CreateDBClusterSnapshot",
                self.source
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(database)
                    .db_cluster_snapshot_identifier(snapshot_id)
                    .set_tags(Some(sdk_tags(tags)))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        (
                            code(&e).map(str::to_owned),
                            port_error("CreateDBClusterSnapshot", e),
                        )
                    }),
            ),
        };
        match result {
            Ok(()) => Ok(()),
            Err((code, _)) if already_done(code.as_deref()) => Ok(()),
            Err((Some(code), _)) if code == "DBInstanceNotFound" || code == "DBClusterNotFoundFault" => {
                Err(PortError::permanent(
                    operation,
                    format!("database {database} does not exist in primary; fix [[snapshots.databases]] in the config or create it"),
                ))
            }
            Err((_, error)) => Err(error),
        }
    }

    async fn copy(
        &self,
        location: Location,
        source_arn: &str,
        target_id: &str,
        kms_key: &str,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        self.count();
        let client = self.client(location);
        let result = match self.kind {
            DatabaseKind::Instance => client
                .copy_db_snapshot()
                .source_db_snapshot_identifier(source_arn)
                .target_db_snapshot_identifier(target_id)
                .kms_key_id(kms_key)
                .set_tags(Some(sdk_tags(tags)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (code(&e).map(str::to_owned), port_error("CopyDBSnapshot", e))),
            DatabaseKind::Cluster => client
                .copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(source_arn)
                .target_db_cluster_snapshot_identifier(target_id)
                .kms_key_id(kms_key)
                .set_tags(Some(sdk_tags(tags)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        code(&e).map(str::to_owned),
                        port_error("CopyDBClusterSnapshot", e),
                    )
                }),
        };
        match result {
            Ok(()) => Ok(()),
            Err((code, _)) if already_done(code.as_deref()) => Ok(()),
            Err((Some(code), error)) if code == "KMSKeyNotAccessibleFault" => Err(PortError::permanent(
                &error.operation,
                format!(
                    "KMS key {kms_key} cannot be used for the {location:?} copy; its key policy must let this \
                     account use it (and, for DR's copy, primary's regional key must grant the DR account \
                     kms:Decrypt and kms:CreateGrant)"
                ),
            )),
            Err((_, error)) => Err(error),
        }
    }

    async fn share(&self, snapshot_id: &str, account: &str) -> Result<(), PortError> {
        self.count();
        match self.kind {
            DatabaseKind::Instance => self
                .regional
                .modify_db_snapshot_attribute()
                .db_snapshot_identifier(snapshot_id)
                .attribute_name("restore")
                .values_to_add(account)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| port_error("ModifyDBSnapshotAttribute", e)),
            DatabaseKind::Cluster => self
                .regional
                .modify_db_cluster_snapshot_attribute()
                .db_cluster_snapshot_identifier(snapshot_id)
                .attribute_name("restore")
                .values_to_add(account)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| port_error("ModifyDBClusterSnapshotAttribute", e)),
        }
    }

    async fn delete(&self, location: Location, snapshot_id: &str) -> Result<(), PortError> {
        self.count();
        let client = self.client(location);
        let result = match self.kind {
            DatabaseKind::Instance => client
                .delete_db_snapshot()
                .db_snapshot_identifier(snapshot_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        code(&e).map(str::to_owned),
                        port_error("DeleteDBSnapshot", e),
                    )
                }),
            DatabaseKind::Cluster => client
                .delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(snapshot_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        code(&e).map(str::to_owned),
                        port_error("DeleteDBClusterSnapshot", e),
                    )
                }),
        };
        match result {
            Ok(()) => Ok(()),
            Err((code, _)) if gone(code.as_deref()) => Ok(()),
            Err((_, error)) => Err(error),
        }
    }
}

impl DatabaseRestorer for RdsSnapshotStore {
    async fn restorable(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        self.list(Location::Dr, database).await
    }

    async fn restore(
        &self,
        kind: DatabaseKind,
        snapshot_id: &str,
        target: &str,
        settings: &RestoreSettings,
    ) -> Result<(), PortError> {
        self.count();
        let exists = |code: Option<&str>| {
            matches!(
                code,
                Some("DBInstanceAlreadyExists" | "DBClusterAlreadyExistsFault")
            )
        };
        match kind {
            DatabaseKind::Instance => {
                let result = self
                    .dr
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
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) if exists(code(&e)) => Ok(()),
                    Err(e) => Err(port_error("RestoreDBInstanceFromDBSnapshot", e)),
                }
            }
            DatabaseKind::Cluster => {
                // The snapshot says which engine (and version) the cluster runs.
                self.count();
                let snapshot = self
                    .dr
                    .describe_db_cluster_snapshots()
                    .db_cluster_snapshot_identifier(snapshot_id)
                    .send()
                    .await
                    .map_err(|e| port_error("DescribeDBClusterSnapshots", e))?;
                let snapshot = snapshot.db_cluster_snapshots().first().ok_or_else(|| {
                    PortError::permanent(
                        "DescribeDBClusterSnapshots",
                        format!("no cluster snapshot {snapshot_id} in DR"),
                    )
                })?;
                let engine = snapshot.engine().unwrap_or("aurora-postgresql").to_owned();
                let result = self
                    .dr
                    .restore_db_cluster_from_snapshot()
                    .snapshot_identifier(snapshot_id)
                    .db_cluster_identifier(target)
                    .engine(&engine)
                    .set_engine_version(snapshot.engine_version().map(str::to_owned))
                    .set_db_subnet_group_name(settings.subnet_group.clone())
                    .set_vpc_security_group_ids(some(&settings.security_group_ids))
                    .set_db_cluster_parameter_group_name(settings.cluster_parameter_group.clone())
                    .deletion_protection(settings.deletion_protection)
                    .send()
                    .await;
                match result {
                    Ok(_) => {}
                    Err(e) if exists(code(&e)) => {}
                    Err(e) => return Err(port_error("RestoreDBClusterFromSnapshot", e)),
                }
                // A cluster without an instance serves nothing: the writer first, then readers.
                for n in 1..=settings.instances.max(1) {
                    self.count();
                    let result = self
                        .dr
                        .create_db_instance()
                        .db_instance_identifier(cluster_instance(target, n))
                        .db_cluster_identifier(target)
                        .engine(&engine)
                        .db_instance_class(
                            settings
                                .instance_class
                                .as_deref()
                                .unwrap_or(RestoreSettings::DEFAULT_CLUSTER_INSTANCE_CLASS),
                        )
                        .set_db_parameter_group_name(settings.parameter_group.clone())
                        .publicly_accessible(false)
                        .send()
                        .await;
                    match result {
                        Ok(_) => {}
                        Err(e) if exists(code(&e)) => {}
                        Err(e) => return Err(port_error("CreateDBInstance", e)),
                    }
                }
                Ok(())
            }
        }
    }

    async fn database(
        &self,
        kind: DatabaseKind,
        target: &str,
    ) -> Result<Option<(String, Option<DatabaseEndpoint>)>, PortError> {
        self.count();
        match kind {
            DatabaseKind::Instance => instance_status(&self.dr, target).await,
            DatabaseKind::Cluster => match self
                .dr
                .describe_db_clusters()
                .db_cluster_identifier(target)
                .send()
                .await
            {
                Ok(output) => Ok(output.db_clusters().first().map(|db| {
                    let endpoint = db.endpoint().map(|address| DatabaseEndpoint {
                        address: address.to_owned(),
                        port: db
                            .port()
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or(5432),
                    });
                    // Available with no instance is not serving: say so, and wait.
                    let status = match db.status().unwrap_or_default() {
                        "available" if db.db_cluster_members().is_empty() => "creating-instances",
                        other => other,
                    };
                    (status.to_owned(), endpoint)
                })),
                Err(e) if code(&e) == Some("DBClusterNotFoundFault") => Ok(None),
                Err(e) => Err(port_error("DescribeDBClusters", e)),
            },
        }
    }

    async fn delete_database(&self, kind: DatabaseKind, target: &str) -> Result<(), PortError> {
        self.count();
        let result = match kind {
            DatabaseKind::Instance => self
                .dr
                .delete_db_instance()
                .db_instance_identifier(target)
                .skip_final_snapshot(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        code(&e).map(str::to_owned),
                        port_error("DeleteDBInstance", e),
                    )
                }),
            DatabaseKind::Cluster => {
                // RDS refuses to delete a cluster whose instances are not already deleting.
                self.delete_cluster_members(target).await?;
                self.dr
                    .delete_db_cluster()
                    .db_cluster_identifier(target)
                    .skip_final_snapshot(true)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        (
                            code(&e).map(str::to_owned),
                            port_error("DeleteDBCluster", e),
                        )
                    })
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err((Some(code), _))
                if code == "DBInstanceNotFound" || code == "DBClusterNotFoundFault" =>
            {
                Ok(())
            }
            Err((_, error)) => Err(error),
        }
    }
}

/// A DB instance's status and endpoint, `None` if there is none by that name: what a
/// restore waits on, whichever source it came from.
pub(crate) async fn instance_status(
    client: &aws_sdk_rds::Client,
    target: &str,
) -> Result<Option<(String, Option<DatabaseEndpoint>)>, PortError> {
    match client
        .describe_db_instances()
        .db_instance_identifier(target)
        .send()
        .await
    {
        Ok(output) => Ok(output.db_instances().first().map(|db| {
            let endpoint = db.endpoint().and_then(|e| {
                Some(DatabaseEndpoint {
                    address: e.address()?.to_owned(),
                    port: u16::try_from(e.port()?).ok()?,
                })
            });
            (
                db.db_instance_status().unwrap_or_default().to_owned(),
                endpoint,
            )
        })),
        Err(e) if code(&e) == Some("DBInstanceNotFound") => Ok(None),
        Err(e) => Err(port_error("DescribeDBInstances", e)),
    }
}
