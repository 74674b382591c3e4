//! The reconciler's status tier at fleet scale (`make bench` prints the table): 1,000,000
//! certificates per side behind in-memory listings that count their calls, paced on paper
//! at the configured IoT rate (10 calls/s per account; the sides are separate accounts and
//! are walked at once, so a pass takes the slower side's calls ÷ rate). Memory: the peak
//! resident set the pass adds above the two listings (peak reset through
//! `/proc/self/clear_refs` before each case; Linux).

use dr_core::port::PortError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dr_core::certificate::{CertificateId, CertificateStatus};
use dr_core::reconcile::{
    CertificateLister, CertificatePage, ListOrder, ReportOnly, StatusPass, MAX_PAGE_SIZE,
};

/// A `/proc/self/status` figure in KiB (Linux).
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

const FLEET: u32 = 1_000_000;
const CALLS_PER_SECOND: f64 = 10.0;

/// A side's listing in creation order, counting ListCertificates calls.
struct Listing {
    certificates: Vec<(CertificateId, CertificateStatus)>,
    calls: AtomicU64,
}

impl CertificateLister for Listing {
    async fn certificate_page(
        &self,
        marker: Option<&str>,
        page_size: u32,
        _order: ListOrder,
    ) -> Result<CertificatePage, PortError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let start: usize = marker.map_or(0, |m| m.parse().expect("our own marker"));
        let end = (start + page_size as usize).min(self.certificates.len());
        Ok(CertificatePage {
            certificates: self.certificates[start..end].to_vec(),
            next_marker: (end < self.certificates.len()).then(|| end.to_string()),
        })
    }
}

fn id(n: u32) -> CertificateId {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&n.wrapping_mul(0x9E37_79B9).to_be_bytes());
    bytes[4..8].copy_from_slice(&n.to_be_bytes());
    CertificateId::from_bytes(&bytes)
}

fn listing(certificates: Vec<(CertificateId, CertificateStatus)>) -> Listing {
    Listing {
        certificates,
        calls: AtomicU64::new(0),
    }
}

/// The three fleets, each built straight into its listings (no large temporaries, whose
/// freed pages the pass could reuse unseen).
fn case(number: usize) -> (&'static str, Listing, Listing) {
    let status = |n: u32, revocations: bool| {
        if revocations && n % 10_000 == 3 {
            CertificateStatus::Revoked
        } else {
            CertificateStatus::Active
        }
    };
    let primary = |revocations: bool| {
        listing(
            (0..FLEET)
                .map(|n| (id(n), status(n, revocations)))
                .collect(),
        )
    };
    match number {
        // DR as replication leaves it: 0.1% missing, 0.01% revocations it missed (ACTIVE
        // there), its creation order locally shuffled (apply workers: blocks of 64 reversed).
        0 => (
            "DR as replication leaves it (0.1% missing, 0.01% revocations missed, order shuffled in blocks of 64)",
            primary(true),
            listing(
                (0..FLEET)
                    .map(|p| (p / 64) * 64 + (63 - p % 64))
                    .filter(|n| n % 1_000 != 7)
                    .map(|n| (id(n), CertificateStatus::Active))
                    .collect(),
            ),
        ),
        1 => ("first deploy: DR empty", primary(false), listing(Vec::new())),
        // DR seeded in an unrelated order (the worst case for memory): sorted by id.
        _ => {
            let mut by_id = primary(false);
            by_id.certificates.sort_unstable();
            ("worst case: DR listed in an unrelated order", primary(false), by_id)
        }
    }
}

/// One case, in a process of its own so that its peak resident set is its own.
fn run_case(number: usize) {
    let (name, source, target) = case(number);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let base = proc_status_kib("VmRSS:");
    let started = Instant::now();
    let pass = StatusPass {
        source: &source,
        target: &target,
        page_size: MAX_PAGE_SIZE,
    };
    let report = runtime
        .block_on(pass.run(&ReportOnly, || true, || 0))
        .expect("in-memory listings answer");
    let cpu = started.elapsed().as_secs_f64();
    let added_kib = proc_status_kib("VmHWM:").saturating_sub(base);
    assert_eq!(report.source_calls, source.calls.load(Ordering::Relaxed));
    let slower = report.source_calls.max(report.target_calls) as f64;
    let c = report.counts;
    println!(
        "| {name} | {} / {} | {:.1} min | {cpu:.2} s | {:.1} MiB (at most {} certificates waiting) | missing {}, status {}, conflicts {}, extra {} |",
        report.source_calls,
        report.target_calls,
        slower / CALLS_PER_SECOND / 60.0,
        added_kib as f64 / 1024.0,
        report.peak_unmatched,
        c.missing,
        c.status,
        c.conflicts,
        c.extra,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--case") {
        run_case(args[at + 1].parse().expect("a case number"));
        return;
    }
    println!("\n| `cargo bench -p dr-core --bench status_pass` ({FLEET} certificates per side, pages of {MAX_PAGE_SIZE}, {CALLS_PER_SECOND} calls/s per account) | calls per side (source / DR) | on paper | CPU | memory the pass adds | drift found |");
    println!("|---|---|---|---|---|---|");
    let me = std::env::current_exe().expect("the bench binary");
    for number in 0..3 {
        let status = std::process::Command::new(&me)
            .args(["--case", &number.to_string()])
            .status()
            .expect("run a case");
        assert!(status.success(), "case {number} failed");
    }
    // The deep tier, for comparison: the reconciler's measured cost per certificate
    // (README: ≈3,005 calls per side for 1,000 certificates).
    let deep_calls = 3.005 * f64::from(FLEET);
    println!(
        "| deep pass, same fleet (measured 3.005 calls per certificate per side) | {deep_calls:.0} | {:.1} h | | | |",
        deep_calls / CALLS_PER_SECOND / 3600.0
    );
}
