//! The fleet's RTO model (`failover::fleet_rto`) for fleets from 2,000 to 1M wearables: the
//! time to 50/90/99 % connected in DR, at AWS's documented-low quotas and at raised ones,
//! with devices on the CRT SDKs' defaults and on the README's device requirements; and how
//! long the model takes. Prints a table; `cargo bench -p dr-core --bench fleet_rto`.

use std::time::Instant;

use dr_core::config::{BackoffConfig, FleetConfig, Jitter};
use dr_core::failover::{DnsRto, FleetRto, IotQuotas};

fn main() {
    // The DNS part with the defaults: 10 s rounds, threshold 3, TTL 30 s (≤ 160 s).
    let dns = DnsRto::new(3, 10, 30);
    let crt_defaults = FleetConfig::default();
    let requirements = FleetConfig {
        keep_alive_seconds: 60,
        ping_timeout_seconds: 10,
        backoff: BackoffConfig {
            base_ms: 1_000,
            cap_ms: 30_000,
            jitter: Jitter::Full,
        },
        ..FleetConfig::default()
    };
    let raised = IotQuotas {
        connects_per_second: 3_000.0,
        subscriptions_per_second: 6_000.0,
        concurrent_connections: 2_000_000,
    };
    println!(
        "fleet RTO model: seconds from primary's failure to 50/90/99% of the fleet connected in DR"
    );
    println!("| devices | device settings | DR quotas (connects/s, subscriptions/s, connections) | 50% | 90% | 99% | model time |");
    println!("|---|---|---|---|---|---|---|");
    for devices in [2_000_u64, 100_000, 1_000_000] {
        for (settings_label, settings) in [
            (
                "CRT defaults (keep-alive 1200 s, back-off 1-120 s)",
                &crt_defaults,
            ),
            (
                "requirements (keep-alive 60 s, back-off 1-30 s)",
                &requirements,
            ),
        ] {
            for (quotas_label, quotas) in [
                ("500, 500, 500,000 (assumed)", IotQuotas::ASSUMED),
                ("3,000, 6,000, 2,000,000", raised),
            ] {
                let started = Instant::now();
                let rto = FleetRto::model(dns, settings, quotas, devices);
                let took = started.elapsed();
                let show = |t: Option<f64>| t.map_or("never".to_owned(), |s| format!("{s:.0}"));
                println!(
                    "| {devices} | {settings_label} | {quotas_label} | {} | {} | {} | {:.0} ms |",
                    show(rto.p50),
                    show(rto.p90),
                    show(rto.p99),
                    took.as_secs_f64() * 1_000.0
                );
            }
        }
    }
}
