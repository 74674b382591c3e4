//! The fleet's RTO on paper: when is a patient's wearable connected in DR? DNS answering DR
//! ([`DnsRto`]) is only where it starts. Each device must first notice that primary went
//! silent (its keep-alive), then retry through its back-off until DNS gives it DR, and DR's
//! account admits only so many CONNECTs (and SUBSCRIBEs) per second and so many connections
//! at once.
//!
//! The model is a deterministic discrete-event simulation of a sample of the fleet (the
//! quotas scaled to the sample): each device's silence is stratified over its keep-alive
//! window, its back-off draws come from a fixed-seed generator, and the account's
//! admission is a token bucket refusing the CONNECTs above the rate, as IoT does (a refused
//! device backs off and retries). Same inputs, same figures — so readiness can fail on them
//! and the fleet game day can compare its measurement with them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::DnsRto;
use crate::config::{FleetConfig, Jitter};

/// DR account quotas that bound a reconnect storm (AWS IoT Core, Service Quotas codes in
/// [`IotQuotaCode`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IotQuotas {
    /// Connect requests per second per account.
    pub connects_per_second: f64,
    /// Subscriptions per second per account.
    pub subscriptions_per_second: f64,
    /// Maximum concurrent client connections per account.
    pub concurrent_connections: u64,
}

impl IotQuotas {
    /// What the model assumes when DR's quotas cannot be read: the lowest figures AWS has
    /// documented for these quotas (500 connects and 500 subscriptions per second; 500,000
    /// connections). Conservative on purpose: a fast RTO must be earned by reading them.
    pub const ASSUMED: IotQuotas = IotQuotas {
        connects_per_second: 500.0,
        subscriptions_per_second: 500.0,
        concurrent_connections: 500_000,
    };
}

/// The Service Quotas codes (service `iotcore`) behind [`IotQuotas`], and the ones the
/// replicator's rate depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IotQuotaCode {
    /// Connect requests per second per account.
    ConnectsPerSecond,
    /// Subscriptions per second per account.
    SubscriptionsPerSecond,
    /// Maximum concurrent client connections per account.
    ConcurrentConnections,
    /// RegisterCertificate API TPS (the replicator's registration rate).
    RegisterCertificateTps,
}

impl IotQuotaCode {
    /// Every code readiness reads, in report order.
    pub const ALL: [IotQuotaCode; 4] = [
        IotQuotaCode::ConnectsPerSecond,
        IotQuotaCode::SubscriptionsPerSecond,
        IotQuotaCode::ConcurrentConnections,
        IotQuotaCode::RegisterCertificateTps,
    ];

    /// The Service Quotas service code.
    pub const SERVICE: &'static str = "iotcore";

    /// The quota code to ask Service Quotas (and to name when asking for a raise).
    pub fn code(self) -> &'static str {
        match self {
            IotQuotaCode::ConnectsPerSecond => "L-AEA1E176",
            IotQuotaCode::SubscriptionsPerSecond => "L-589D5E1D",
            IotQuotaCode::ConcurrentConnections => "L-75CAB723",
            IotQuotaCode::RegisterCertificateTps => "L-8C0011A3",
        }
    }

    /// The quota's name as Service Quotas shows it.
    pub fn name(self) -> &'static str {
        match self {
            IotQuotaCode::ConnectsPerSecond => "Connect requests per second per account",
            IotQuotaCode::SubscriptionsPerSecond => "Subscriptions per second per account",
            IotQuotaCode::ConcurrentConnections => {
                "Maximum concurrent client connections per account"
            }
            IotQuotaCode::RegisterCertificateTps => "RegisterCertificate API TPS",
        }
    }
}

/// The sample the model simulates at most (quotas scale to it): enough for the 99th
/// percentile to rest on 100 devices.
pub const MODEL_SAMPLE: u64 = 10_000;

/// A day: a fleet not connected by then is reported as never.
const HORIZON_MS: u64 = 86_400_000;

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRto {
    /// The DNS part (at worst), which every device waits for.
    pub dns: DnsRto,
    /// Devices in the fleet.
    pub devices: u64,
    /// The quotas used.
    pub quotas: IotQuotas,
    /// CONNECTs admitted per second: the connect rate, or the subscribe rate over each
    /// device's subscriptions when that is lower.
    pub admitted_per_second: f64,
    /// The latest a device notices primary is gone: keep-alive + ping timeout.
    pub detection_worst_seconds: u64,
    /// Seconds from primary's failure until 50 % of the fleet is connected in DR (`None`:
    /// never, within a day or at all).
    pub p50: Option<f64>,
    /// … 90 %.
    pub p90: Option<f64>,
    /// … 99 %.
    pub p99: Option<f64>,
}

impl FleetRto {
    /// The model for `devices` reconnecting with `fleet`'s settings into DR's `quotas`.
    pub fn model(dns: DnsRto, fleet: &FleetConfig, quotas: IotQuotas, devices: u64) -> Self {
        Self::model_sampled(dns, fleet, quotas, devices, MODEL_SAMPLE)
    }

    /// [`FleetRto::model`] with an explicit sample size (tests; the game day's comparison).
    pub fn model_sampled(
        dns: DnsRto,
        fleet: &FleetConfig,
        quotas: IotQuotas,
        devices: u64,
        sample: u64,
    ) -> Self {
        let admitted_per_second = admitted_per_second(fleet, &quotas);
        let times = simulate(dns, fleet, &quotas, devices, sample.max(1));
        let at = |percent: f64| percentile(&times, devices.min(sample.max(1)), percent);
        Self {
            dns,
            devices,
            quotas,
            admitted_per_second,
            detection_worst_seconds: u64::from(fleet.keep_alive_seconds)
                + u64::from(fleet.ping_timeout_seconds),
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
        }
    }

    /// Seconds until `percent` of the fleet is connected in DR (50, 90 or 99; others are
    /// rounded to the nearest of those).
    pub fn at_percent(&self, percent: u8) -> Option<f64> {
        match percent {
            0..=70 => self.p50,
            71..=94 => self.p90,
            _ => self.p99,
        }
    }

    /// Whether DR's account can hold the whole fleet at once.
    pub fn fleet_fits(&self) -> bool {
        self.quotas.concurrent_connections >= self.devices
    }
}

impl std::fmt::Display for FleetRto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |t: Option<f64>| match t {
            Some(s) => format!("{s:.0} s"),
            None => "never".to_owned(),
        };
        write!(
            f,
            "{} devices connected in DR: 50% {}, 90% {}, 99% {} (DNS ≤ {} s; detection ≤ {} s; \
             {:.0} CONNECTs admitted/s; {} concurrent connections)",
            self.devices,
            show(self.p50),
            show(self.p90),
            show(self.p99),
            self.dns.total(),
            self.detection_worst_seconds,
            self.admitted_per_second,
            self.quotas.concurrent_connections
        )
    }
}

fn admitted_per_second(fleet: &FleetConfig, quotas: &IotQuotas) -> f64 {
    let by_subscriptions = match fleet.subscriptions_per_device {
        0 => f64::INFINITY,
        n => quotas.subscriptions_per_second / f64::from(n),
    };
    quotas.connects_per_second.min(by_subscriptions).max(0.0)
}

/// Connection times (ms after the failure) of the sample's devices that connected, sorted.
fn simulate(
    dns: DnsRto,
    fleet: &FleetConfig,
    quotas: &IotQuotas,
    devices: u64,
    sample: u64,
) -> Vec<u64> {
    let n = devices.min(sample);
    if n == 0 {
        return Vec::new();
    }
    // The sample stands for `scale` devices each: the account's limits shrink with it.
    let scale = devices as f64 / n as f64;
    let rate_per_ms = admitted_per_second(fleet, quotas) / scale / 1_000.0;
    let burst = (rate_per_ms * 1_000.0).max(1.0);
    let capacity = (quotas.concurrent_connections as f64 / scale).floor() as u64;
    let dns_ms = dns.total() * 1_000;
    let keep_alive_ms = u64::from(fleet.keep_alive_seconds) * 1_000;
    let ping_timeout_ms = u64::from(fleet.ping_timeout_seconds) * 1_000;
    let connect_timeout_ms = u64::from(fleet.connect_timeout_seconds) * 1_000;

    // Each device's last packet before the failure is spread evenly over its keep-alive
    // window; it sends PINGREQ a keep-alive later and gives up a ping timeout after that.
    let mut attempts: BinaryHeap<Reverse<(u64, u64, u32)>> = (0..n)
        .map(|i| {
            let silence = (keep_alive_ms as f64 * (i as f64 + 0.5) / n as f64) as u64;
            Reverse((silence + ping_timeout_ms, i, 0))
        })
        .collect();
    let (mut tokens, mut refilled_at) = (burst, 0_u64);
    let mut connected = Vec::with_capacity(n as usize);
    while let Some(Reverse((at, device, attempt))) = attempts.pop() {
        if at > HORIZON_MS || connected.len() as u64 >= capacity {
            // Past a day, or DR full: nobody else gets in (no one leaves DR in this model).
            break;
        }
        if at < dns_ms {
            // DNS still answers primary, whose region never answers: the attempt costs the
            // connect timeout, then the device backs off.
            let next = at + connect_timeout_ms + backoff_ms(fleet, device, attempt);
            attempts.push(Reverse((next, device, attempt + 1)));
            continue;
        }
        tokens = ((at - refilled_at) as f64)
            .mul_add(rate_per_ms, tokens)
            .min(burst);
        refilled_at = at;
        if tokens >= 1.0 {
            tokens -= 1.0;
            connected.push(at);
        } else {
            // Throttled: DR refuses the CONNECT at once; the device backs off.
            let next = at + backoff_ms(fleet, device, attempt);
            attempts.push(Reverse((next, device, attempt + 1)));
        }
    }
    connected.sort_unstable();
    connected
}

/// The device's wait after its `attempt`-th failure: `min(cap, base × 2ᵃ)`, jittered by a
/// draw fixed for (device, attempt).
fn backoff_ms(fleet: &FleetConfig, device: u64, attempt: u32) -> u64 {
    let backoff = &fleet.backoff;
    let ceiling = backoff
        .base_ms
        .saturating_mul(1_u64 << attempt.min(32))
        .min(backoff.cap_ms);
    let draw = unit(device, attempt);
    match backoff.jitter {
        Jitter::Full => (ceiling as f64 * draw) as u64,
        Jitter::Equal => ceiling / 2 + (ceiling as f64 / 2.0 * draw) as u64,
        Jitter::None => ceiling,
    }
}

/// A uniform draw in [0, 1) fixed by its inputs (SplitMix64).
fn unit(device: u64, attempt: u32) -> f64 {
    let mut z = device
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(attempt).wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1_u64 << 53) as f64
}

/// Seconds until `percent` of `population` devices connected, from their sorted times.
fn percentile(sorted_ms: &[u64], population: u64, percent: f64) -> Option<f64> {
    if population == 0 {
        return Some(0.0);
    }
    let needed = ((population as f64 * percent / 100.0).ceil() as usize).max(1);
    sorted_ms.get(needed - 1).map(|&ms| ms as f64 / 1_000.0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::BackoffConfig;

    fn dns() -> DnsRto {
        DnsRto::new(3, 10, 30)
    }

    fn fleet(keep_alive_seconds: u32, jitter: Jitter) -> FleetConfig {
        FleetConfig {
            devices: None,
            keep_alive_seconds,
            ping_timeout_seconds: 5,
            connect_timeout_seconds: 5,
            backoff: BackoffConfig {
                base_ms: 1_000,
                cap_ms: 30_000,
                jitter,
            },
            subscriptions_per_device: 1,
        }
    }

    fn unlimited() -> IotQuotas {
        IotQuotas {
            connects_per_second: 1e12,
            subscriptions_per_second: 1e12,
            concurrent_connections: u64::MAX,
        }
    }

    #[test]
    fn with_ample_quotas_the_fleet_waits_for_dns_then_its_back_off() {
        let rto =
            FleetRto::model_sampled(dns(), &fleet(60, Jitter::Full), unlimited(), 2_000, 2_000);
        let (p50, p99) = (rto.p50.unwrap(), rto.p99.unwrap());
        // Every device noticed long before DNS moved (65 s ≤ 160 s): all wait for DNS and
        // then at most one back-off (≤ 30 s) plus a connect timeout.
        assert!(p50 >= 160.0, "{rto}");
        assert!(p99 <= 160.0 + 35.0, "{rto}");
    }

    #[test]
    fn the_sdk_default_keep_alive_dominates_the_rto() {
        let rto = FleetRto::model_sampled(
            dns(),
            &fleet(1_200, Jitter::Full),
            unlimited(),
            2_000,
            2_000,
        );
        // Silence spread over 20 minutes: half the fleet notices after ~10 minutes.
        let p50 = rto.p50.unwrap();
        assert!((560.0..=700.0).contains(&p50), "{rto}");
        assert!(rto.p99.unwrap() >= 1_150.0, "{rto}");
    }

    #[test]
    fn a_million_devices_at_500_connects_a_second_take_over_half_an_hour() {
        let quotas = IotQuotas {
            connects_per_second: 500.0,
            subscriptions_per_second: 5_000.0,
            concurrent_connections: 2_000_000,
        };
        let rto = FleetRto::model(dns(), &fleet(60, Jitter::Full), quotas, 1_000_000);
        // 990,000 devices at 500/s is 1,980 s after DNS moves.
        let p99 = rto.p99.unwrap();
        assert!(p99 >= 160.0 + 1_980.0 - 1.0, "{rto}");
        assert!(p99 <= 160.0 + 1_980.0 + 200.0, "{rto}");
    }

    #[test]
    fn subscriptions_bound_the_admission_when_devices_subscribe_to_many_topics() {
        let quotas = IotQuotas {
            connects_per_second: 3_000.0,
            subscriptions_per_second: 500.0,
            concurrent_connections: 1_000_000,
        };
        let mut many = fleet(60, Jitter::Full);
        many.subscriptions_per_device = 5;
        assert_eq!(admitted_per_second(&many, &quotas), 100.0);
    }

    #[test]
    fn a_fleet_larger_than_dr_s_connection_quota_never_fully_connects() {
        let quotas = IotQuotas {
            concurrent_connections: 500_000,
            ..unlimited()
        };
        let rto = FleetRto::model(dns(), &fleet(60, Jitter::Full), quotas, 1_000_000);
        assert!(rto.p50.is_some(), "{rto}");
        assert_eq!((rto.p90, rto.p99), (None, None), "{rto}");
        assert!(!rto.fleet_fits());
        assert!(rto.to_string().contains("90% never"), "{rto}");
    }

    #[test]
    fn lock_step_retries_without_jitter_are_slower_under_throttling_than_full_jitter() {
        let quotas = IotQuotas {
            connects_per_second: 20.0,
            ..unlimited()
        };
        let at = |jitter| {
            FleetRto::model_sampled(dns(), &fleet(60, jitter), quotas, 2_000, 2_000)
                .p99
                .unwrap()
        };
        assert!(at(Jitter::None) > at(Jitter::Full));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the settings: the percentiles are ordered, nobody connects before DNS
        /// answers DR, and no faster than DR's admission allows.
        #[test]
        fn percentiles_are_ordered_and_bounded_by_dns_and_the_admission_rate(
            devices in 1_u64..3_000,
            keep_alive in 30_u32..600,
            rate in 1.0_f64..2_000.0,
            cap_ms in 1_000_u64..120_000,
            jitter in prop_oneof![Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::None)],
        ) {
            let mut settings = fleet(keep_alive, jitter);
            settings.backoff.cap_ms = cap_ms;
            let quotas = IotQuotas { connects_per_second: rate, ..unlimited() };
            let rto = FleetRto::model_sampled(dns(), &settings, quotas, devices, 1_000);
            let (p50, p90, p99) = (rto.p50.unwrap(), rto.p90.unwrap(), rto.p99.unwrap());
            prop_assert!(p50 <= p90 && p90 <= p99);
            prop_assert!(p50 >= dns().total() as f64);
            // The token bucket admits at most its burst (a second's worth) at once, then the rate.
            let needed = (devices as f64 * 0.99).ceil();
            let burst = rate.max(1.0);
            let floor = dns().total() as f64 + (needed - burst).max(0.0) / rate;
            prop_assert!(p99 + 1e-3 >= floor, "p99 {p99} below the admission floor {floor}");
        }

        /// The sample stands for the fleet: doubling the fleet and the quotas together
        /// changes nothing.
        #[test]
        fn the_model_scales_with_the_fleet_and_its_quotas_together(
            rate in 1.0_f64..500.0,
            factor in 2_u64..20,
        ) {
            let settings = fleet(120, Jitter::Full);
            let quotas = |k: f64| IotQuotas {
                connects_per_second: rate * k,
                subscriptions_per_second: 1e12,
                concurrent_connections: u64::MAX,
            };
            let base = FleetRto::model_sampled(dns(), &settings, quotas(1.0), 1_000, 1_000);
            let scaled = FleetRto::model_sampled(
                dns(),
                &settings,
                quotas(factor as f64),
                1_000 * factor,
                1_000,
            );
            prop_assert_eq!((base.p50, base.p90, base.p99), (scaled.p50, scaled.p90, scaled.p99));
        }
    }
}
