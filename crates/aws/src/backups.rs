//! [`ReplicatedBackupStore`] on RDS: an instance's automated backups replicated into the DR
//! region (cross-Region automated backup replication), in primary's account there. Every
//! call is signed for the DR region, with primary's role assumed through STS in the DR
//! region ([`AwsSession::config_in`]): nothing here needs primary's region. The same store
//! reaches an Aurora global database's secondary there ([`crate::global_database`]).

use aws_sdk_rds::Client;
use dr_core::port::PortError;
use dr_core::snapshots::{
    DescribedDatabase, ReplicatedBackup, ReplicatedBackupStore, RestoreSettings,
};
use dr_core::{Side, Topology};

use crate::error::{code, port_error};
use crate::AwsSession;

/// Replicated automated backups of the topology's primary instances, in the DR region.
#[derive(Debug, Clone)]
pub struct RdsReplicatedBackups {
    pub(crate) client: Client,
    /// CloudWatch there: RDS's global database lag metric.
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
    primary_region: String,
    primary_account: String,
}

impl RdsReplicatedBackups {
    /// Primary's account in the DR region.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            client: session.rds_in(Side::Primary, &topology.dr.region),
            cloudwatch: session.cloudwatch_in(Side::Primary, &topology.dr.region),
            primary_region: topology.primary.region.to_string(),
            primary_account: topology.primary.account_id.to_string(),
        }
    }
}

impl ReplicatedBackupStore for RdsReplicatedBackups {
    async fn replicated(&self, database: &str) -> Result<Option<ReplicatedBackup>, PortError> {
        let mut marker = None;
        loop {
            let page = self
                .client
                .describe_db_instance_automated_backups()
                .db_instance_identifier(database)
                .set_marker(marker)
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) if code(&e) == Some("DBInstanceAutomatedBackupNotFound") => return Ok(None),
                Err(e) => return Err(port_error("DescribeDBInstanceAutomatedBackups", e)),
            };
            // In the DR region, the backups whose source lives in primary's region.
            let found = page.db_instance_automated_backups().iter().find(|b| {
                b.db_instance_identifier() == Some(database)
                    && b.region() == Some(self.primary_region.as_str())
            });
            if let Some(b) = found {
                return Ok(Some(ReplicatedBackup {
                    arn: b
                        .db_instance_automated_backups_arn()
                        .unwrap_or_default()
                        .to_owned(),
                    status: b.status().unwrap_or_default().to_owned(),
                    latest_restorable_ms: b
                        .restore_window()
                        .and_then(|w| w.latest_time())
                        .and_then(|t| t.to_millis().ok()),
                }));
            }
            marker = page.marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(None);
            }
        }
    }

    async fn start_replication(
        &self,
        database: &str,
        retention_days: u32,
        kms_key: &str,
    ) -> Result<(), PortError> {
        let source = format!(
            "arn:aws:rds:{}:{}:db:{database}",
            self.primary_region, self.primary_account
        );
        match self
            .client
            .start_db_instance_automated_backups_replication()
            .source_db_instance_arn(source)
            .backup_retention_period(i32::try_from(retention_days).unwrap_or(7))
            .kms_key_id(kms_key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(port_error("StartDBInstanceAutomatedBackupsReplication", e)),
        }
    }

    async fn restore_latest(
        &self,
        arn: &str,
        target: &str,
        settings: &RestoreSettings,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect();
        let result = self
            .client
            .restore_db_instance_to_point_in_time()
            .source_db_instance_automated_backups_arn(arn)
            .use_latest_restorable_time(true)
            .target_db_instance_identifier(target)
            .set_db_subnet_group_name(settings.subnet_group.clone())
            .set_vpc_security_group_ids(
                (!settings.security_group_ids.is_empty())
                    .then(|| settings.security_group_ids.clone()),
            )
            .set_db_parameter_group_name(settings.parameter_group.clone())
            .set_option_group_name(settings.option_group.clone())
            .set_db_instance_class(settings.instance_class.clone())
            .multi_az(settings.multi_az)
            .deletion_protection(settings.deletion_protection)
            // A patient database is never reachable from the internet.
            .publicly_accessible(false)
            .set_tags(Some(tags))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("DBInstanceAlreadyExists") => Ok(()),
            Err(e) => Err(port_error("RestoreDBInstanceToPointInTime", e)),
        }
    }

    async fn database(&self, target: &str) -> Result<Option<DescribedDatabase>, PortError> {
        crate::rds::instance_status(&self.client, target).await
    }
}
