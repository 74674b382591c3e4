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
    // RTO on paper for DNS with production settings: detection (threshold rounds after the
    // outage starts, plus up to one interval until the first failed round), the alarm
    // (set directly, so no evaluation period), Route 53's health check (it polls the alarm
    // state; about 30 s in AWS's documentation of CloudWatch-alarm health checks is an
    // assumption noted here, not measured), and resolvers holding the old answer for a TTL.
    let detection: f64 = 40.0; // 3 rounds × 10 s + up to one 10 s interval
    let health_check = 30.0;
    let ttl = 60.0;
    println!();
    println!("RTO on paper (DNS part), production settings:");
    println!("| detection (≤ 3 rounds + 1 interval) | Route 53 health check follows the alarm (assumed) | record TTL | total |");
    println!("|---|---|---|---|");
    println!(
        "| {detection:.0} s | {health_check:.0} s | {ttl:.0} s | {:.0} s |",
        detection + health_check + ttl
    );
}
