//! [`SnapshotStore`] on RDS in three places: primary's account in primary's region (the
//! source), primary's account in the DR region (the regional copy) and DR's account in the
//! DR region (DR's own copy). Instances use DB snapshots, Aurora clusters DB cluster
//! snapshots; the controller does not know the difference, and neither does the logic
//! here: [`kinds`] holds the per-kind SDK calls, field readers and error codes, and each
//! step below is written once over them.
//!
//! Cross-region copies need no `PreSignedUrl` in commercial regions (RDS ignores it there);
//! GovCloud requires one, which this store does not sign: a GovCloud deployment must add it.

use std::collections::HashMap;

use aws_sdk_rds::Client;
use dr_core::port::PortError;
use dr_core::snapshots::{
    DatabaseEndpoint, DatabaseKind, DatabaseRestorer, DescribedDatabase, FailbackStore,
    FoundSnapshot, InstanceCreation, Location, RestoreSettings, Retirement, RetiringDatabase,
    Snapshot, SnapshotState, SnapshotStore, Stores,
};
use dr_core::{Side, Topology};

use crate::call::{Calls, Tolerate};
use crate::AwsSession;

mod kinds;
#[cfg(test)]
mod tests;

pub use dr_core::snapshots::cluster_instance;
use kinds::{Kind, Listed, Rds, INSTANCES};

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
    /// Primary's account: what failback shares DR's final snapshots with.
    primary_account: String,
    calls: Calls,
}

impl RdsSnapshotStore {
    /// The store for databases of `kind` in `topology`.
    pub fn new(session: &AwsSession, topology: &Topology, kind: DatabaseKind) -> Self {
        Self {
            primary_account: topology.primary.account_id.to_string(),
            ..Self::on(
                kind,
                session.rds_in(Side::Primary, &topology.primary.region),
                session.rds_in(Side::Primary, &topology.dr.region),
                session.rds_in(Side::Dr, &topology.dr.region),
                session.kms(Side::Primary),
            )
        }
    }

    /// The store on these clients: RDS at the source, the regional copy and DR's copy, and
    /// KMS at the source.
    fn on(
        kind: DatabaseKind,
        source: Client,
        regional: Client,
        dr: Client,
        source_kms: aws_sdk_kms::Client,
    ) -> Self {
        Self {
            kind,
            source,
            regional,
            dr,
            source_kms,
            primary_account: String::new(),
            calls: Calls::default(),
        }
    }

    /// How many API calls this store has made.
    pub fn calls(&self) -> u64 {
        self.calls.made()
    }

    /// RDS where `location`'s snapshots live.
    fn at(&self, location: Location) -> Rds<'_> {
        let client = match location {
            Location::Source => &self.source,
            Location::Regional => &self.regional,
            Location::Dr => &self.dr,
        };
        Rds {
            client,
            calls: &self.calls,
        }
    }

    /// The calls for this store's kind of database.
    fn api(&self) -> Kind {
        Kind(self.kind)
    }

    /// Whether a key is AWS-managed (`aws/rds`): such snapshots can never be shared.
    async fn aws_managed(&self, key: &str) -> Result<bool, PortError> {
        if key.contains("alias/aws/") {
            return Ok(true);
        }
        let described = self
            .calls
            .send("DescribeKey", || {
                self.source_kms.describe_key().key_id(key).send()
            })
            .await
            // A key we cannot describe is one we cannot reason about; the copy will say more.
            .none_on(&["NotFoundException"])?;
        Ok(described
            .as_ref()
            .and_then(|output| output.key_metadata())
            .and_then(|m| m.key_manager())
            .is_some_and(|m| m.as_str() == "AWS"))
    }

    /// Our snapshots of `database` at `location`: every manual snapshot of this kind there,
    /// kept when tagged with the database's name.
    async fn list(&self, location: Location, database: &str) -> Result<Vec<Snapshot>, PortError> {
        let listed = self.api().snapshots(self.at(location)).await?;
        Ok(listed
            .into_iter()
            .filter(|s| {
                s.tags
                    .get(dr_core::snapshots::TAG_DATABASE)
                    .map(String::as_str)
                    == Some(database)
            })
            .map(|s| snapshot(s, location))
            .collect())
    }

    /// The accounts the regional copy `snapshot_id` is shared with.
    async fn shared_with(&self, snapshot_id: &str) -> Result<Vec<String>, PortError> {
        let regional = self.at(Location::Regional);
        Ok(self
            .api()
            .attribute(regional, snapshot_id, "restore")
            .await?)
    }

    /// The database `target` of `kind` in DR: its status, tags and, once it has one, its
    /// endpoint.
    async fn describe(
        &self,
        api: Kind,
        target: &str,
    ) -> Result<Option<DescribedDatabase>, PortError> {
        database_status(api, self.at(Location::Dr), target).await
    }

    /// Delete the DR database `target` without a final snapshot; gone, or already deleting,
    /// is done. Any other state RDS refuses a delete in is an error.
    async fn delete_one(&self, api: Kind, target: &str) -> Result<(), PortError> {
        let codes = api.codes();
        match api.delete(self.at(Location::Dr), target).await {
            Ok(()) => Ok(()),
            Err(e) if e.is(codes.database_gone) => Ok(()),
            // RDS answers a delete of a database that is already deleting with "invalid
            // state", as it does one that cannot be deleted yet: look which it is.
            Err(e) if e.is(codes.database_busy) => match self.describe(api, target).await? {
                None => Ok(()),
                Some(db) if db.status == "deleting" => Ok(()),
                Some(_) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }
}

/// A listed snapshot, as observed at `location`.
fn snapshot(listed: Listed, location: Location) -> Snapshot {
    Snapshot {
        id: listed.id,
        arn: listed.arn,
        location,
        state: SnapshotState::from_rds(&listed.status),
        created_ms: listed.created_ms,
        tags: listed.tags,
        kms_key_id: listed.kms_key_id,
        aws_managed_key: false,
        shared_with: Vec::new(),
    }
}

/// A database's status, tags and its endpoint once RDS gives both address and port; `None`
/// if there is none by that name. A cluster is reported as RDS reports it: whether its
/// instances serve is the core's question ([`dr_core::snapshots::converge`]).
async fn database_status(
    api: Kind,
    rds: Rds<'_>,
    target: &str,
) -> Result<Option<DescribedDatabase>, PortError> {
    let described = api
        .describe(rds, target)
        .await
        .none_on(api.codes().database_gone)?
        .flatten();
    Ok(described.map(|db| {
        let endpoint = db.address.zip(db.port).and_then(|(address, port)| {
            Some(DatabaseEndpoint {
                address,
                port: u16::try_from(port).ok()?,
            })
        });
        DescribedDatabase {
            status: db.status,
            endpoint,
            tags: db.tags,
        }
    }))
}

/// A DB instance's status, tags and endpoint, `None` if there is none by that name: what a
/// restore waits on, whichever source it came from.
pub(crate) async fn instance_status(
    client: &Client,
    target: &str,
) -> Result<Option<DescribedDatabase>, PortError> {
    // The caller keeps no count of its calls.
    let calls = Calls::default();
    database_status(
        INSTANCES,
        Rds {
            client,
            calls: &calls,
        },
        target,
    )
    .await
}

/// Create the DB instance `instance` in the cluster `cluster` on `client` (a promoted global
/// secondary, in primary's account in the DR region): as a restored cluster's.
pub(crate) async fn create_cluster_instance_on(
    client: &Client,
    cluster: &str,
    instance: &str,
    settings: &RestoreSettings,
    tags: &[(String, String)],
) -> Result<InstanceCreation, PortError> {
    let calls = Calls::default();
    kinds::create_cluster_instance(
        Rds {
            client,
            calls: &calls,
        },
        cluster,
        instance,
        settings,
        kinds::sdk_tags(tags),
    )
    .await
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
        let api = self.api();
        let codes = api.codes();
        let created = api
            .create_snapshot(
                self.at(Location::Source),
                database,
                snapshot_id,
                kinds::sdk_tags(tags),
            )
            .await;
        match created {
            Ok(()) => Ok(()),
            // An earlier (or a concurrent) tick took it.
            Err(e) if e.is(codes.snapshot_exists) => Ok(()),
            Err(e) if e.is(codes.database_gone) => Err(PortError::permanent(
                e.operation(),
                format!("database {database} does not exist in primary; fix [[snapshots.databases]] in the config or create it"),
            )),
            Err(e) => Err(e.into()),
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
        let api = self.api();
        let copied = api
            .copy_snapshot(
                self.at(location),
                source_arn,
                target_id,
                kms_key,
                kinds::sdk_tags(tags),
            )
            .await;
        match copied {
            Ok(()) => Ok(()),
            // An earlier (or a concurrent) tick made it.
            Err(e) if e.is(api.codes().snapshot_exists) => Ok(()),
            Err(e) if e.is(&["KMSKeyNotAccessibleFault"]) => Err(PortError::permanent(
                e.operation(),
                format!(
                    "KMS key {kms_key} cannot be used for the {location:?} copy; its key policy must let this \
                     account use it (and, for DR's copy, primary's regional key must grant the DR account \
                     kms:Decrypt and kms:CreateGrant)"
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn share(&self, snapshot_id: &str, account: &str) -> Result<(), PortError> {
        let regional = self.at(Location::Regional);
        self.api()
            .add_to_attribute(regional, snapshot_id, "restore", account)
            .await?;
        Ok(())
    }

    async fn delete(&self, location: Location, snapshot_id: &str) -> Result<(), PortError> {
        let api = self.api();
        api.delete_snapshot(self.at(location), snapshot_id)
            .await
            .done_on(api.codes().snapshot_gone)
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
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        Kind(kind)
            .restore(
                self.at(Location::Dr),
                snapshot_id,
                target,
                settings,
                kinds::sdk_tags(tags),
            )
            .await
    }

    async fn database(
        &self,
        kind: DatabaseKind,
        target: &str,
    ) -> Result<Option<DescribedDatabase>, PortError> {
        self.describe(Kind(kind), target).await
    }

    async fn create_cluster_instance(
        &self,
        cluster: &str,
        instance: &str,
        settings: &RestoreSettings,
        tags: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
        kinds::create_cluster_instance(
            self.at(Location::Dr),
            cluster,
            instance,
            settings,
            kinds::sdk_tags(tags),
        )
        .await
    }

    async fn delete_database(&self, kind: DatabaseKind, target: &str) -> Result<(), PortError> {
        let api = Kind(kind);
        // RDS refuses to delete a cluster whose instances are not already deleting.
        let members = api
            .members(self.at(Location::Dr), target)
            .await
            .none_on(api.codes().database_gone)?
            .unwrap_or_default();
        for member in members {
            self.delete_one(INSTANCES, &member).await?;
        }
        self.delete_one(api, target).await
    }
}

/// Failback's calls: the restored database where it lives (DR's account, or primary's in
/// the DR region for a restore of replicated backups), its final snapshot's way into
/// primary's account and region, and its retirement. Written once over [`Kind`], like the
/// pipeline's.
impl FailbackStore for RdsSnapshotStore {
    async fn retiring(
        &self,
        at: Location,
        target: &str,
    ) -> Result<Option<RetiringDatabase>, PortError> {
        let api = self.api();
        let described = api
            .describe(self.at(at), target)
            .await
            .none_on(api.codes().database_gone)?
            .flatten();
        Ok(described.map(|db| RetiringDatabase {
            status: db.status,
            tags: db.tags,
            deletion_protection: db.deletion_protection,
        }))
    }

    async fn snapshot_named(
        &self,
        at: Location,
        id: &str,
    ) -> Result<Option<FoundSnapshot>, PortError> {
        let api = self.api();
        let listed = api
            .snapshot(self.at(at), id)
            .await
            .none_on(api.codes().snapshot_gone)?
            .flatten();
        Ok(listed.map(|s| FoundSnapshot {
            arn: s.arn,
            state: SnapshotState::from_rds(&s.status),
        }))
    }

    async fn snapshot_database(
        &self,
        at: Location,
        target: &str,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        let api = self.api();
        api.create_snapshot(self.at(at), target, id, kinds::sdk_tags(tags))
            .await
            // An earlier, interrupted look took it.
            .done_on(api.codes().snapshot_exists)
    }

    async fn share_with_primary(&self, id: &str) -> Result<(), PortError> {
        self.api()
            .add_to_attribute(self.at(Location::Dr), id, "restore", &self.primary_account)
            .await?;
        Ok(())
    }

    async fn copy_into(
        &self,
        at: Location,
        source_arn: &str,
        id: &str,
        kms_key: &str,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        SnapshotStore::copy(self, at, source_arn, id, kms_key, tags).await
    }

    async fn source_key(&self, database: &str) -> Result<Option<String>, PortError> {
        let sources = self.list(Location::Source, database).await?;
        Ok(sources
            .into_iter()
            .filter(|s| s.kms_key_id.is_some())
            .max_by_key(|s| s.created_ms)
            .and_then(|s| s.kms_key_id))
    }

    async fn retire_database(
        &self,
        at: Location,
        target: &str,
        final_snapshot: &str,
    ) -> Result<Retirement, PortError> {
        let api = self.api();
        let rds = self.at(at);
        // RDS refuses to delete a cluster whose instances are not already deleting; an
        // Aurora instance takes no final snapshot (the cluster's holds the data).
        let members = api
            .members(rds, target)
            .await
            .none_on(api.codes().database_gone)?
            .unwrap_or_default();
        for member in members {
            match INSTANCES.delete(rds, &member).await {
                Ok(()) => {}
                Err(e) if e.is(INSTANCES.codes().database_gone) => {}
                Err(e) if e.is(INSTANCES.codes().database_busy) => return Ok(Retirement::Later),
                Err(e) => return Err(e.into()),
            }
        }
        let codes = api.codes();
        match api.delete_keeping(rds, target, final_snapshot).await {
            Ok(()) => Ok(Retirement::Deleting),
            Err(e) if e.is(codes.database_gone) => Ok(Retirement::Deleting),
            // Already deleting, or not deletable yet: the next look tells which.
            Err(e) if e.is(codes.database_busy) => Ok(Retirement::Later),
            Err(e) => Err(e.into()),
        }
    }
}
