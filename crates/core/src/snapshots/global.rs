//! A third restore source, with the lowest RPO: an Aurora Global Database secondary cluster
//! in the DR region.
//!
//! Aurora replicates a global database's storage from the primary region to each secondary
//! region, typically under a second behind. The secondary lives in *primary's* account
//! (Aurora offers no cross-account secondary), so it is reached as the replicated backups
//! are: primary's role assumed through STS in the DR region, every call signed for the DR
//! region. A failover promotes it by AWS's documented unplanned-failover path, "detach and
//! promote": RemoveFromGlobalCluster on the secondary, called in the secondary's region
//! (RemoveFromGlobalCluster: "The cluster becomes a standalone cluster with read-write
//! capability instead of being read-only and receiving data from a primary cluster in a
//! different Region"). The planned paths (switchover, managed failover) need the primary
//! region to answer, which an outage rules out.
//!
//! Its data time is measured by RDS's CloudWatch metric `AuroraGlobalDBReplicationLag` (ms),
//! published for the secondary in its own region: at the newest datapoint's time `t` the
//! secondary held the primary's data up to `t − lag`, and it only gets newer after, so
//! `t − lag` is an honest lower bound even when the primary is gone and the datapoints stop.
//! Without a datapoint the data time is unknown, and the secondary is no candidate.
//!
//! One promotion per runbook: a promoted cluster keeps its own name (renaming it would move
//! its endpoint under the application), so whose it is lives in its tags. The runbook tags
//! the secondary *before* detaching it (claim, then act: a crash between the two is
//! repaired by the next round, which finds its own tag and detaches). A secondary tagged by
//! another runbook, or detached by someone else, is not reusable: its data stopped when it
//! was detached and it may have taken writes since. It is no candidate, and the notes say
//! so loudly; the failover falls back to the next source.
//!
//! A secondary may be *headless* (no DB instance: "A headless secondary Aurora DB cluster is
//! one without a DB instance", which saves compute). Once promoted it gets its instances as
//! a restored cluster does ([`super::converge`]), only once it is available.

use std::collections::BTreeMap;
use std::future::Future;

use super::{DatabaseEndpoint, DescribedDatabase, InstanceCreation, RestoreSettings};
use super::{TAG_DATA_TIME, TAG_RESTORE_SOURCE, TAG_RUNBOOK};
use crate::port::PortError;
use crate::time::EpochMillis;

/// [`super::RestoreSource::kind_name`] of a global database's secondary.
pub const GLOBAL_SECONDARY: &str = "global-secondary";

/// A protected Aurora cluster's global-database secondary in the DR region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GlobalSecondaryPolicy {
    /// The secondary DB cluster's identifier (primary's account, the DR region).
    pub cluster: String,
    /// DB instances the promoted cluster must have (a headless secondary gets them created
    /// after promotion as `<cluster>-<n>`; existing readers count as they are).
    pub instances: u32,
    /// Their instance class; unset: `db.r6g.large`.
    pub instance_class: Option<String>,
}

impl GlobalSecondaryPolicy {
    /// How instances created in the promoted cluster are made.
    pub fn instance_settings(&self) -> RestoreSettings {
        RestoreSettings {
            instance_class: self.instance_class.clone(),
            instances: self.instances.max(1),
            // The promoted cluster keeps primary's account's own network and groups.
            ..RestoreSettings::default()
        }
    }
}

/// RDS's newest `AuroraGlobalDBReplicationLag` datapoint of a secondary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// The datapoint's time.
    pub at_ms: EpochMillis,
    /// The lag it reports.
    pub lag_ms: EpochMillis,
}

impl Lag {
    /// The newest primary data the secondary held: a lower bound (see the module's notes).
    pub fn data_ms(&self) -> EpochMillis {
        self.at_ms - self.lag_ms.max(0)
    }
}

/// A global database's secondary cluster as the DR region reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalSecondary {
    /// Its ARN (RemoveFromGlobalCluster names it so).
    pub arn: String,
    /// The global database it is a member of; `None` once detached (standalone).
    pub global_cluster: Option<String>,
    /// RDS's status of the cluster.
    pub status: String,
    /// Its writer endpoint, once RDS gives one.
    pub endpoint: Option<DatabaseEndpoint>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Its DB instances.
    pub members: Vec<String>,
    /// Its newest replication-lag datapoint, if RDS published one recently.
    pub lag: Option<Lag>,
}

/// Aurora global databases, in primary's account in the DR region (never primary's region).
pub trait GlobalSecondaryStore {
    /// The DB cluster `cluster`, its global database membership and its newest lag
    /// datapoint; `None` if there is no such cluster.
    fn secondary(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Option<GlobalSecondary>, PortError>> + Send;
    /// Detach-and-promote: RemoveFromGlobalCluster of `cluster_arn` from `global_cluster`,
    /// called in the DR region. Already detached is done.
    fn detach(
        &self,
        global_cluster: &str,
        cluster_arn: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Add `tags` to the cluster `cluster_arn`.
    fn tag(
        &self,
        cluster_arn: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The DB instance `instance` there; `None` if there is none.
    fn instance(
        &self,
        instance: &str,
    ) -> impl Future<Output = Result<Option<DescribedDatabase>, PortError>> + Send;
    /// Create the DB instance `instance` in the promoted cluster `cluster`
    /// (`Later` while RDS does not take one yet).
    fn create_instance(
        &self,
        cluster: &str,
        instance: &str,
        settings: &RestoreSettings,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<InstanceCreation, PortError>> + Send;
}

/// No global database: what stores without one answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGlobalSecondary;

impl GlobalSecondaryStore for NoGlobalSecondary {
    async fn secondary(&self, _: &str) -> Result<Option<GlobalSecondary>, PortError> {
        Ok(None)
    }
    async fn detach(&self, _: &str, _: &str) -> Result<(), PortError> {
        Err(PortError::permanent(
            "RemoveFromGlobalCluster",
            "no global database store",
        ))
    }
    async fn tag(&self, _: &str, _: &[(String, String)]) -> Result<(), PortError> {
        Ok(())
    }
    async fn instance(&self, _: &str) -> Result<Option<DescribedDatabase>, PortError> {
        Ok(None)
    }
    async fn create_instance(
        &self,
        _: &str,
        _: &str,
        _: &RestoreSettings,
        _: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
        Ok(InstanceCreation::Later)
    }
}

/// Whether `secondary` is a restore source for `runbook` now: its data time and lag, or why
/// not (an error the caller reports as the source's, loudly). `runbook` `None`: for anyone
/// (readiness, metrics): a secondary claimed by any runbook is not reusable.
pub fn candidate(
    policy: &GlobalSecondaryPolicy,
    secondary: Option<GlobalSecondary>,
    runbook: Option<&str>,
) -> Result<Option<super::RestoreSource>, PortError> {
    let op = "DescribeGlobalClusters";
    let Some(secondary) = secondary else {
        return Err(PortError::permanent(
            op,
            format!(
                "secondary cluster {} is MISSING in primary's account in the DR region; fix [snapshots.databases.global_secondary] or add the region to the global database",
                policy.cluster
            ),
        ));
    };
    match (secondary.tags.get(TAG_RUNBOOK), runbook) {
        (Some(owner), Some(runbook)) if owner == runbook => {}
        (Some(owner), _) => {
            return Err(PortError::permanent(
                op,
                format!(
                    "secondary cluster {} was already PROMOTED by runbook {owner}: NOT reusable (its data stopped then and it may have taken writes); re-create it as a secondary (and remove its {TAG_RUNBOOK} tag) to protect again",
                    policy.cluster
                ),
            ))
        }
        (None, _) => {}
    }
    let Some(global_cluster) = secondary.global_cluster.clone() else {
        if secondary.tags.contains_key(TAG_RUNBOOK) {
            // Our own, detached: the source is what the tags recorded.
            return Ok(None);
        }
        return Err(PortError::permanent(
            op,
            format!(
                "secondary cluster {} is DETACHED from its global database (standalone, not by a runbook): NOT reusable; add it back as a secondary",
                policy.cluster
            ),
        ));
    };
    let Some(lag) = secondary.lag else {
        return Err(PortError::transient(
            "GetMetricData",
            format!(
                "no recent AuroraGlobalDBReplicationLag datapoint for secondary {}: its data time is unknown, so it is no candidate",
                policy.cluster
            ),
        ));
    };
    Ok(Some(super::RestoreSource::GlobalSecondary {
        cluster: policy.cluster.clone(),
        arn: secondary.arn,
        global_cluster,
        lag_ms: lag.lag_ms,
        data_ms: lag.data_ms(),
    }))
}

/// Promote the secondary for `runbook` (level-triggered, idempotent): tag it as the
/// runbook's with what it holds, then detach it from its global database. A secondary that
/// is another runbook's is an error (the caller falls back to the next source).
pub async fn promote<G>(
    store: &G,
    policy: &GlobalSecondaryPolicy,
    runbook: &str,
    tags: &[(String, String)],
) -> Result<(), PortError>
where
    G: GlobalSecondaryStore + Sync,
{
    let secondary = store.secondary(&policy.cluster).await?;
    let owned = secondary
        .as_ref()
        .and_then(|s| s.tags.get(TAG_RUNBOOK))
        .is_some_and(|owner| owner == runbook);
    if !owned {
        // Checks it is still reusable (no other runbook's, still a member).
        candidate(policy, secondary.clone(), Some(runbook))?;
    }
    let secondary = secondary.expect("candidate() refuses a missing secondary");
    if !owned {
        store.tag(&secondary.arn, tags).await?;
    }
    match &secondary.global_cluster {
        Some(global_cluster) => store.detach(global_cluster, &secondary.arn).await,
        None => Ok(()),
    }
}

/// The secondary as a [`super::DatabaseRestorer`], for [`super::converge`]: the cluster
/// and its instances, and instance creation. Nothing is restored or deleted through it.
pub(crate) struct Promoted<'a, G> {
    pub(crate) store: &'a G,
    pub(crate) secondary: &'a GlobalSecondary,
}

impl<G: GlobalSecondaryStore + Sync> super::DatabaseRestorer for Promoted<'_, G> {
    async fn restorable(&self, _: &str) -> Result<Vec<super::Snapshot>, PortError> {
        Ok(Vec::new())
    }
    async fn restore(
        &self,
        _: super::DatabaseKind,
        _: &str,
        _: &str,
        _: &RestoreSettings,
        _: &[(String, String)],
    ) -> Result<(), PortError> {
        Err(PortError::permanent(
            "RestoreDBClusterFromSnapshot",
            "a promoted secondary is not restored",
        ))
    }
    async fn database(
        &self,
        kind: super::DatabaseKind,
        target: &str,
    ) -> Result<Option<DescribedDatabase>, PortError> {
        match kind {
            super::DatabaseKind::Cluster => Ok(Some(DescribedDatabase {
                // Still a member: the detach has not happened (or its answer was lost);
                // the caller detaches again.
                status: if self.secondary.global_cluster.is_some() {
                    "detaching".to_owned()
                } else {
                    self.secondary.status.clone()
                },
                endpoint: self.secondary.endpoint.clone(),
                tags: self.secondary.tags.clone(),
            })),
            super::DatabaseKind::Instance => self.store.instance(target).await,
        }
    }
    async fn create_cluster_instance(
        &self,
        cluster: &str,
        instance: &str,
        settings: &RestoreSettings,
        tags: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
        self.store
            .create_instance(cluster, instance, settings, tags)
            .await
    }
    async fn delete_database(&self, _: super::DatabaseKind, _: &str) -> Result<(), PortError> {
        Err(PortError::permanent(
            "DeleteDBCluster",
            "a promoted secondary is not deleted here",
        ))
    }
}

/// One level-triggered look at the runbook's promoted secondary: detach again while it is
/// still a member; once standalone and available, ready when its own readers serve, or (a
/// headless secondary) once its `<cluster>-<n>` instances are created and available.
pub async fn converge_promoted<G>(
    store: &G,
    policy: &GlobalSecondaryPolicy,
    secondary: &GlobalSecondary,
) -> Result<super::Progress, PortError>
where
    G: GlobalSecondaryStore + Sync,
{
    if let Some(global_cluster) = &secondary.global_cluster {
        store.detach(global_cluster, &secondary.arn).await?;
        return Ok(super::Progress::Waiting(format!(
            "{} detaching from global database {global_cluster}",
            policy.cluster
        )));
    }
    let ours = |m: &String| (1..=15).any(|n| *m == super::cluster_instance(&policy.cluster, n));
    let tags: Vec<(String, String)> = secondary
        .tags
        .iter()
        .filter(|(k, _)| [TAG_RUNBOOK, TAG_RESTORE_SOURCE, TAG_DATA_TIME].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !secondary.members.is_empty() && !secondary.members.iter().any(ours) {
        // It had readers: Aurora makes one the writer on promotion, and the cluster is
        // available with a writer endpoint once that is done. (Their own status is not read:
        // the health checker may describe only the instances it creates, `<cluster>-<n>`.)
        return Ok(match (secondary.status.as_str(), &secondary.endpoint) {
            ("available", Some(endpoint)) => super::Progress::Ready(endpoint.clone()),
            (status, _) => super::Progress::Waiting(format!("{} {status}", policy.cluster)),
        });
    }
    let promoted = Promoted { store, secondary };
    super::converge(
        &promoted,
        super::DatabaseKind::Cluster,
        &policy.cluster,
        &policy.instance_settings(),
        &tags,
    )
    .await
}
