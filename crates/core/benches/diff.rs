//! The reconciler's diff at fleet scale: 1,000,000 certificates per side, 1% drift.
//! A timed harness (`make bench` prints the table): time and peak memory of the diff, with
//! both inventories streamed (never materialised), as the adapters' sorted listings are.

use std::time::Instant;

use dr_core::certificate::{CertificateId, CertificateStatus};
use dr_core::reconcile::{diff, DriftCounts, InventoryEntry, PolicyDigest};

const CERTIFICATES: u64 = 1_000_000;

fn entry(
    n: u64,
    digest: PolicyDigest,
    thing: &dr_core::ThingName,
    policy: &dr_core::PolicyName,
) -> InventoryEntry {
    with_suffix(
        n,
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        digest,
        thing,
        policy,
    )
}

/// Ascending by `n`; the suffix only orders ids that share `n`.
fn with_suffix(
    n: u64,
    suffix: u64,
    digest: PolicyDigest,
    thing: &dr_core::ThingName,
    policy: &dr_core::PolicyName,
) -> InventoryEntry {
    InventoryEntry {
        certificate_id: format!("{n:016x}{suffix:048x}")
            .parse::<CertificateId>()
            .expect("64 hex digits"),
        status: CertificateStatus::Active,
        things: vec![(
            thing.clone(),
            dr_core::replication::records::ThingAssociation::NonExclusive,
        )],
        policies: vec![(policy.clone(), digest)],
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let digest = PolicyDigest::of(
        "{}",
        &"111111111111".parse().unwrap(),
        &"us-east-1".parse().unwrap(),
    );
    let thing: dr_core::ThingName = "wearable".parse().unwrap();
    let policy: dr_core::PolicyName = "fleet".parse().unwrap();
    let before = peak_rss_kib();

    let source = (0..CERTIFICATES).map(|n| entry(n, digest, &thing, &policy));
    // 1% drift in the target: every 100th certificate is missing, has another status,
    // lost its thing, or is replaced by an extra one, in turn.
    let target = (0..CERTIFICATES).filter_map(|n| {
        let mut e = entry(n, digest, &thing, &policy);
        if n % 100 == 0 {
            match (n / 100) % 4 {
                0 => return None,
                1 => e.status = CertificateStatus::Inactive,
                2 => e.things.clear(),
                // Replaced by a certificate DR has and primary lacks (sorts right after it).
                _ => e = with_suffix(n, u64::MAX, digest, &thing, &policy),
            }
        }
        Some(e)
    });

    let started = Instant::now();
    let mut counts = DriftCounts::default();
    for drift in diff(source, target) {
        counts.add(&drift);
    }
    let elapsed = started.elapsed();
    let peak = peak_rss_kib();

    println!("reconcile diff, {CERTIFICATES} certificates per side, 1% drift (release build)");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| drift found (missing / mismatched / extra) | {} / {} / {} |",
        counts.missing, counts.mismatched, counts.extra
    );
    println!(
        "| time, including generating both inventories | {:.3} s |",
        elapsed.as_secs_f64()
    );
    println!(
        "| peak resident memory of the process | {:.1} MiB |",
        peak as f64 / 1024.0
    );
    println!(
        "| of which before the diff started | {:.1} MiB |",
        before as f64 / 1024.0
    );
}
