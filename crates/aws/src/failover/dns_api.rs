//! The simple traffic switch: a direct record UPSERT through Route 53's control plane.

use dr_core::failover::TrafficSwitch;
use dr_core::port::PortError;
use dr_core::{Side, Topology};

use super::zone::Zone;
use crate::AwsSession;

/// The simple switch: UPSERT the record to the side's target and wait for INSYNC. A
/// Route 53 control-plane call at failover time (its control plane lives in us-east-1),
/// so only for setups that accept that.
#[derive(Debug, Clone)]
pub struct DnsApiSwitch {
    zone: Zone,
}

impl DnsApiSwitch {
    /// The switch of the topology.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            zone: Zone::new(session, topology),
        }
    }

    /// The same switch on `[dns] drill_record`: what drills flip, never production routing.
    pub fn drill(session: &AwsSession, topology: &Topology) -> Self {
        let mut zone = Zone::new(session, topology);
        zone.record = topology.dns.drill_record.to_string();
        Self { zone }
    }
}

impl TrafficSwitch for DnsApiSwitch {
    async fn ensure(&self) -> Result<(), PortError> {
        let zone_id = self.zone.zone_id().await?;
        if self.zone.record_sets(&zone_id).await?.is_empty() {
            self.zone
                .change(&zone_id, vec![self.zone.cname(&self.zone.primary_target)?])
                .await?;
        }
        Ok(())
    }

    async fn point_to(&self, side: Side) -> Result<(), PortError> {
        let zone_id = self.zone.zone_id().await?;
        self.zone
            .change(&zone_id, vec![self.zone.cname(self.zone.target(side))?])
            .await
    }

    async fn heartbeat(&self, _side: Side) -> Result<(), PortError> {
        Ok(())
    }

    async fn serving(&self) -> Result<Option<Side>, PortError> {
        let zone_id = self.zone.zone_id().await?;
        let sets = self.zone.record_sets(&zone_id).await?;
        let value = sets
            .first()
            .and_then(|s| s.resource_records().first())
            .map(|r| r.value().trim_end_matches('.').to_owned());
        Ok(match value {
            Some(v) if v == self.zone.primary_target => Some(Side::Primary),
            Some(v) if v == self.zone.dr_target => Some(Side::Dr),
            _ => None,
        })
    }
}
