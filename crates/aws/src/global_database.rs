//! [`GlobalSecondaryStore`] on RDS and CloudWatch: an Aurora global database's secondary
//! cluster in the DR region, in primary's account there (Aurora offers no cross-account
//! secondary), reached as the replicated backups are: primary's role assumed through STS in
//! the DR region, every call signed for the DR region. The unplanned failover's "detach and
//! promote" (RemoveFromGlobalCluster) is called in the secondary's own region, which is the
//! one that answers in a regional outage of the primary.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_sdk_rds::types::Tag;
use aws_smithy_types::DateTime;
use dr_core::port::PortError;
use dr_core::snapshots::{
    DatabaseEndpoint, DescribedDatabase, GlobalSecondary, GlobalSecondaryStore, InstanceCreation,
    Lag, RestoreSettings,
};
use std::collections::BTreeMap;

use crate::backups::RdsReplicatedBackups;
use crate::error::{code, port_error};

/// RDS's metric of a secondary's lag behind the primary, in milliseconds, published in the
/// secondary's region with the secondary's `DBClusterIdentifier`.
pub const LAG_METRIC: &str = "AuroraGlobalDBReplicationLag";
/// How far back the newest lag datapoint is looked for: RDS publishes it every minute; an
/// older one still bounds the data time from below, but says replication has stalled.
const LAG_LOOKBACK_SECONDS: i64 = 3600;

impl RdsReplicatedBackups {
    /// The global database `arn` is a member of, if any (every page of them).
    async fn membership(&self, arn: &str) -> Result<Option<String>, PortError> {
        let mut marker = None;
        loop {
            let page = self
                .client
                .describe_global_clusters()
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| port_error("DescribeGlobalClusters", e))?;
            let found = page.global_clusters().iter().find(|g| {
                g.global_cluster_members()
                    .iter()
                    .any(|m| m.db_cluster_arn() == Some(arn))
            });
            if let Some(global) = found {
                return Ok(global.global_cluster_identifier().map(str::to_owned));
            }
            marker = page.marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(None);
            }
        }
    }

    /// The newest `AuroraGlobalDBReplicationLag` datapoint of `cluster` (Maximum per
    /// minute: the conservative one) within the lookback.
    async fn lag(&self, cluster: &str) -> Result<Option<Lag>, PortError> {
        let now = dr_core::time::now_millis();
        let metric = Metric::builder()
            .namespace("AWS/RDS")
            .metric_name(LAG_METRIC)
            .dimensions(
                Dimension::builder()
                    .name("DBClusterIdentifier")
                    .value(cluster)
                    .build(),
            )
            .build();
        let query = MetricDataQuery::builder()
            .id("lag")
            .metric_stat(
                MetricStat::builder()
                    .metric(metric)
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let answer = self
            .cloudwatch
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(DateTime::from_millis(now - LAG_LOOKBACK_SECONDS * 1000))
            .end_time(DateTime::from_millis(now + 60_000))
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| port_error("GetMetricData", e))?;
        let newest = answer
            .metric_data_results()
            .iter()
            .flat_map(|r| r.timestamps().iter().zip(r.values()))
            .filter_map(|(t, v)| Some((t.to_millis().ok()?, *v)))
            .max_by_key(|(t, _)| *t);
        Ok(newest.map(|(at_ms, lag)| Lag {
            at_ms,
            lag_ms: lag.max(0.0).round() as i64,
        }))
    }
}

impl GlobalSecondaryStore for RdsReplicatedBackups {
    async fn secondary(&self, cluster: &str) -> Result<Option<GlobalSecondary>, PortError> {
        let described = match self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
        {
            Ok(described) => described,
            Err(e) if code(&e) == Some("DBClusterNotFoundFault") => return Ok(None),
            Err(e) => return Err(port_error("DescribeDBClusters", e)),
        };
        let Some(found) = described.db_clusters().first() else {
            return Ok(None);
        };
        let arn = found.db_cluster_arn().unwrap_or_default().to_owned();
        let global_cluster = self.membership(&arn).await?;
        // Only a member replicates: a detached cluster's lag is no one's business.
        let lag = match &global_cluster {
            Some(_) => self.lag(cluster).await?,
            None => None,
        };
        let endpoint = found
            .endpoint()
            .zip(found.port())
            .and_then(|(address, port)| {
                Some(DatabaseEndpoint {
                    address: address.to_owned(),
                    port: u16::try_from(port).ok()?,
                })
            });
        Ok(Some(GlobalSecondary {
            arn,
            global_cluster,
            status: found.status().unwrap_or_default().to_owned(),
            endpoint,
            tags: tags(found.tag_list()),
            members: found
                .db_cluster_members()
                .iter()
                .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
                .collect(),
            lag,
        }))
    }

    async fn detach(&self, global_cluster: &str, cluster_arn: &str) -> Result<(), PortError> {
        match self
            .client
            .remove_from_global_cluster()
            .global_cluster_identifier(global_cluster)
            .db_cluster_identifier(cluster_arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // The global database is gone: nothing is attached any more.
            Err(e) if code(&e) == Some("GlobalClusterNotFoundFault") => Ok(()),
            Err(e) => Err(port_error("RemoveFromGlobalCluster", e)),
        }
    }

    async fn tag(&self, cluster_arn: &str, tags: &[(String, String)]) -> Result<(), PortError> {
        self.client
            .add_tags_to_resource()
            .resource_name(cluster_arn)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map(drop)
            .map_err(|e| port_error("AddTagsToResource", e))
    }

    async fn instance(&self, instance: &str) -> Result<Option<DescribedDatabase>, PortError> {
        crate::rds::instance_status(&self.client, instance).await
    }

    async fn create_instance(
        &self,
        cluster: &str,
        instance: &str,
        settings: &RestoreSettings,
        tags: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
        crate::rds::create_cluster_instance_on(&self.client, cluster, instance, settings, tags)
            .await
    }
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
