//! `[dns]`: the names devices use, and where they point (flow D).

use serde::{Deserialize, Serialize};

use super::FieldError;
use crate::ids::DomainName;

/// The DNS names devices use, and where they point (flow D).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// The Route 53 hosted zone (in the DR account).
    pub zone: DomainName,
    /// The custom domain devices connect to; flipped between primary and DR.
    pub record: DomainName,
    /// A record that drills flip, never touching production routing.
    pub drill_record: DomainName,
    /// What `record` points to while primary serves (primary's IoT domain endpoint).
    pub primary_target: DomainName,
    /// What `record` points to after failover (DR's IoT domain endpoint).
    pub dr_target: DomainName,
    /// Record TTL: the DNS part of the RTO.
    pub ttl_seconds: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        let parse = |s: &str| s.parse().expect("default DNS names are valid");
        Self {
            zone: parse("example.com"),
            record: parse("iot.example.com"),
            drill_record: parse("drill.iot.example.com"),
            primary_target: parse("primary.iot.example.com"),
            dr_target: parse("dr.iot.example.com"),
            ttl_seconds: 30,
        }
    }
}

impl DnsConfig {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        for (field, record) in [
            ("dns.record", &self.record),
            ("dns.drill_record", &self.drill_record),
        ] {
            if !record.is_within(&self.zone) {
                return Err(FieldError::new(
                    field,
                    format!("{record} is not inside the hosted zone {}", self.zone),
                ));
            }
        }
        if self.ttl_seconds == 0 {
            return Err(FieldError::new("dns.ttl_seconds", "must be at least 1"));
        }
        if self.primary_target == self.dr_target {
            return Err(FieldError::new(
                "dns.dr_target",
                "must differ from dns.primary_target, or failover would move nothing",
            ));
        }
        if self.record == self.drill_record {
            return Err(FieldError::new(
                "dns.drill_record",
                "must differ from dns.record, or a drill would flip production routing",
            ));
        }
        Ok(())
    }
}
