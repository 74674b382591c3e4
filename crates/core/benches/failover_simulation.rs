//! The failover state machine against 10,000 simulated rounds per scenario: how many false
//! failovers noise causes, and how many rounds a real outage takes to decide. Prints a
//! table; `cargo bench -p dr-core --bench failover_simulation`.

use dr_core::failover::simulation::simulate;
use dr_core::failover::Settings;

fn main() {
    // Production settings: 10 s rounds, threshold 3, recovery 3, all probes must fail.
    let production = dr_core::FailoverConfig::default().settings();
    let two_of_three = Settings {
        quorum: Some(2),
        ..production
    };
    let interval_ms = 10_000;
    println!("failover state machine, 10,000 rounds of 3 probes, 10 s apart, seeds 1..=20");
    println!("| settings | probe failure rate | outage from round | false failovers (sum) | worst decision latency (rounds) | longest noise streak |");
    println!("|---|---|---|---|---|---|");
    for (label, settings) in [
        ("threshold 3, all 3 probes", production),
        ("threshold 3, 2 of 3 probes", two_of_three),
    ] {
        for (rate, outage) in [(0.2, None), (0.2, Some(5_000)), (0.05, Some(5_000))] {
            let mut false_failovers = 0;
            let mut worst = 0;
            let mut streak = 0;
            for seed in 1..=20 {
                let report = simulate(&settings, 10_000, 3, rate, outage, seed, interval_ms);
                false_failovers += report.false_failovers;
                worst = worst.max(report.decision_rounds.unwrap_or(0));
                streak = streak.max(report.longest_noise_streak);
            }
            println!(
                "| {label} | {:.0}% | {} | {false_failovers} | {} | {streak} |",
                rate * 100.0,
                outage.map_or("none".to_owned(), |r| r.to_string()),
                if outage.is_some() {
                    worst.to_string()
                } else {
                    "-".to_owned()
                },
            );
        }
    }
    // RTO on paper for DNS with the production defaults (crates/core/src/failover/rto.rs):
    // detection, the alarm's 60 s period (Route 53 follows standard-resolution metrics
    // only), Route 53 reading the alarm's data (assumed), and resolvers holding the answer.
    let config = dr_core::FailoverConfig::default();
    let rto = dr_core::failover::DnsRto::new(
        config.failure_threshold,
        config.round_interval_seconds,
        dr_core::DnsConfig::default().ttl_seconds,
    );
    println!();
    println!("RTO on paper (DNS part), production defaults:");
    println!("| detection (threshold rounds + 1 interval) | the alarm's period | Route 53 reads the alarm's data (assumed) | record TTL | total |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} s | {} s | {} s | {} s | {} s |",
        rto.detection,
        rto.alarm_period,
        rto.route53_read,
        rto.ttl,
        rto.total()
    );
}
