//! The Route 53 hosted zone and the switched record, as both switches use them.

use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use dr_core::port::PortError;
use dr_core::{Side, Topology};

use crate::error::port_error;
use crate::AwsSession;

/// Route 53 pieces both switches share.
#[derive(Debug, Clone)]
pub(super) struct Zone {
    pub(super) route53: aws_sdk_route53::Client,
    pub(super) zone: String,
    /// Looked up once: a zone's id never changes, and each lookup is a Route 53 call.
    pub(super) zone_id: tokio::sync::OnceCell<String>,
    pub(super) record: String,
    pub(super) primary_target: String,
    pub(super) dr_target: String,
    pub(super) ttl: i64,
}

impl Zone {
    pub(super) fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            route53: session.route53(Side::Dr),
            zone: topology.dns.zone.to_string(),
            zone_id: tokio::sync::OnceCell::new(),
            record: topology.dns.record.to_string(),
            primary_target: topology.dns.primary_target.to_string(),
            dr_target: topology.dns.dr_target.to_string(),
            ttl: i64::from(topology.dns.ttl_seconds),
        }
    }

    pub(super) fn target(&self, side: Side) -> &str {
        match side {
            Side::Primary => &self.primary_target,
            Side::Dr => &self.dr_target,
        }
    }

    pub(super) async fn zone_id(&self) -> Result<String, PortError> {
        self.zone_id
            .get_or_try_init(|| self.find_zone_id())
            .await
            .cloned()
    }

    pub(super) async fn find_zone_id(&self) -> Result<String, PortError> {
        let wanted = format!("{}.", self.zone.trim_end_matches('.'));
        let output = self
            .route53
            .list_hosted_zones_by_name()
            .dns_name(&wanted)
            .send()
            .await
            .map_err(|e| port_error("ListHostedZonesByName", e))?;
        output
            .hosted_zones()
            .iter()
            .find(|z| z.name() == wanted)
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
            .ok_or_else(|| {
                PortError::permanent(
                    "ListHostedZonesByName",
                    format!("no hosted zone {wanted} in the DR account: create it (the DR stack does) or fix [dns] zone"),
                )
            })
    }

    /// The record sets named `record`.
    pub(super) async fn record_sets(
        &self,
        zone_id: &str,
    ) -> Result<Vec<ResourceRecordSet>, PortError> {
        let wanted = format!("{}.", self.record.trim_end_matches('.'));
        let output = self
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&wanted)
            .send()
            .await
            .map_err(|e| port_error("ListResourceRecordSets", e))?;
        Ok(output
            .resource_record_sets()
            .iter()
            .filter(|r| r.name().trim_end_matches('.') == wanted.trim_end_matches('.'))
            .cloned()
            .collect())
    }

    pub(super) async fn change(
        &self,
        zone_id: &str,
        sets: Vec<ResourceRecordSet>,
    ) -> Result<(), PortError> {
        let changes = sets
            .into_iter()
            .map(|set| {
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PortError::permanent("ChangeResourceRecordSets", e.to_string()))?;
        let batch = ChangeBatch::builder()
            .comment("drctl failover")
            .set_changes(Some(changes))
            .build()
            .map_err(|e| PortError::permanent("ChangeResourceRecordSets", e.to_string()))?;
        let output = self
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| port_error("ChangeResourceRecordSets", e))?;
        let change_id = output
            .change_info()
            .map(|c| c.id().to_owned())
            .unwrap_or_default();
        // Route 53 propagates to all its servers within about a minute.
        for _ in 0..60 {
            let status = self
                .route53
                .get_change()
                .id(&change_id)
                .send()
                .await
                .map_err(|e| port_error("GetChange", e))?;
            if status.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Err(PortError::transient(
            "GetChange",
            format!("change {change_id} not INSYNC after 120 s"),
        ))
    }

    pub(super) fn cname(&self, target: &str) -> Result<ResourceRecordSet, PortError> {
        ResourceRecordSet::builder()
            .name(&self.record)
            .r#type(RrType::Cname)
            .ttl(self.ttl)
            .resource_records(
                ResourceRecord::builder()
                    .value(target)
                    .build()
                    .map_err(|e| PortError::permanent("ResourceRecord", e.to_string()))?,
            )
            .build()
            .map_err(|e| PortError::permanent("ResourceRecordSet", e.to_string()))
    }
}
