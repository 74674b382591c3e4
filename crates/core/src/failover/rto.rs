//! The DNS part of the RTO on paper: from the moment primary stops answering to the moment
//! a device that re-resolves the custom domain gets DR's endpoint. Computed from the
//! settings in use, so a change of threshold, interval or TTL changes the figure.

/// The serving alarm's period. Route 53 follows only standard-resolution metrics (the
/// `AlarmIdentifier` API reference: "High-resolution metrics aren't supported"), whose
/// alarms' shortest period is 60 s.
pub const SERVING_ALARM_PERIOD_SECONDS: u64 = 60;

/// How soon Route 53 reads a change in the alarm's data stream: not documented; an
/// assumption, to be measured on AWS.
pub const ROUTE53_READ_SECONDS_ASSUMED: u64 = 30;

/// Each term of the DNS RTO, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsRto {
    /// Detection: `failure_threshold` rounds after the first failed one, which comes up to
    /// one interval after the outage starts.
    pub detection: u64,
    /// The alarm's data stream: the period holding the decision's datapoint (at worst a full
    /// period before it is evaluated).
    pub alarm_period: u64,
    /// Route 53 reading the data stream ([`ROUTE53_READ_SECONDS_ASSUMED`]).
    pub route53_read: u64,
    /// Resolvers holding the old answer.
    pub ttl: u64,
}

impl DnsRto {
    /// The terms for `failure_threshold` rounds of `round_interval_seconds` and a record TTL.
    pub fn new(failure_threshold: u32, round_interval_seconds: u64, ttl_seconds: u32) -> Self {
        Self {
            detection: (u64::from(failure_threshold) + 1) * round_interval_seconds,
            alarm_period: SERVING_ALARM_PERIOD_SECONDS,
            route53_read: ROUTE53_READ_SECONDS_ASSUMED,
            ttl: u64::from(ttl_seconds),
        }
    }

    /// Of a topology's settings.
    pub fn of(topology: &crate::Topology) -> Self {
        Self::new(
            topology.failover.failure_threshold,
            topology.failover.round_interval_seconds,
            topology.dns.ttl_seconds,
        )
    }

    /// The whole, at worst.
    pub fn total(&self) -> u64 {
        self.detection + self.alarm_period + self.route53_read + self.ttl
    }
}

impl std::fmt::Display for DnsRto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "≤ {} s: detection {} s + the alarm's {} s period + Route 53 reading its data ≈ {} s (assumed) + TTL {} s",
            self.total(),
            self.detection,
            self.alarm_period,
            self.route53_read,
            self.ttl
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_add_up_to_what_the_readme_says() {
        let rto = DnsRto::of(
            &crate::Topology::parse(
                include_str!("../../../../config/sandbox.toml"),
                "config/sandbox.toml",
                std::iter::empty(),
            )
            .unwrap(),
        );
        assert_eq!((rto.detection, rto.alarm_period, rto.ttl), (40, 60, 30));
        assert_eq!(rto.total(), 160);
    }
}
