//! The proxy's shared state and the bookkeeping each call does under its lock: the outage
//! it meets, the fault its rule draws, what is counted; outages and IAM worlds changed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::counts::{CallCounts, Counts};
use super::outage::{OutageMode, OutageScope};
use super::rules::{Fault, FaultRule};
use crate::aws_request::ApiRequest;
use crate::iam::{Iam, Registration, WorldExport};

/// The rules, outages and counts every connection of one proxy shares, under one lock.
#[derive(Default)]
pub(super) struct Control {
    pub(super) rules: Vec<FaultRule>,
    /// One token bucket per rule with a quota: (tokens, last refill).
    pub(super) buckets: BTreeMap<usize, (f64, Instant)>,
    /// Calls each rule with a `times` limit has applied to.
    pub(super) uses: BTreeMap<usize, u32>,
    pub(super) down: bool,
    pub(super) rng: u64,
    pub(super) counts: Counts,
    pub(super) outages: BTreeMap<OutageScope, OutageMode>,
    pub(super) iam: Option<Iam>,
}

/// The state, even if a connection task panicked holding the lock: one failed call must
/// not take the proxy's counts and outages down with it.
pub(super) fn lock(control: &Mutex<Control>) -> std::sync::MutexGuard<'_, Control> {
    control
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Start (`Some`) or end (`None`) an outage, logged so a test's output shows when.
pub(super) fn set_outage(control: &mut Control, scope: OutageScope, mode: Option<OutageMode>) {
    match mode {
        Some(mode) => {
            tracing::info!(%scope, %mode, "sandbox outage begins");
            control.outages.insert(scope, mode);
        }
        None => {
            if control.outages.remove(&scope).is_some() {
                tracing::info!(%scope, "sandbox outage ends");
            }
        }
    }
}

/// Register a world of roles with the proxy's IAM; an error where it enforces none.
pub(super) fn register_world(
    control: &mut Control,
    name: &str,
    export: &WorldExport,
) -> Result<(usize, Registration), String> {
    match control.iam.as_mut() {
        Some(iam) => iam.register(name, export),
        None => Err("this proxy does not enforce IAM".to_owned()),
    }
}

/// The outage `call` meets, counted per region and service.
pub(super) fn outage_of(control: &Mutex<Control>, call: &ApiRequest) -> Option<OutageMode> {
    if !call.signed() {
        // The sandbox's own unsigned calls (moto's health and reset API) belong to no region
        // and meet no outage; counted, they showed as "unknown unknown".
        return None;
    }
    let mut control = lock(control);
    // Route 53's API is global (signed for us-east-1 in AWS, for the client's region with a
    // custom endpoint): it has its own switch, whatever region signed it.
    let (scope, key) = if call.service == "route53" {
        (OutageScope::Route53, "route53 route53".to_owned())
    } else {
        (
            OutageScope::Region {
                region: call.region.clone(),
            },
            format!("{} {}", call.region, call.service),
        )
    };
    let mode = control.outages.get(&scope).copied();
    let counts = control.counts.regions.entry(key).or_default();
    counts.attempted += 1;
    match mode {
        Some(OutageMode::Slow { .. }) => counts.slowed += 1,
        Some(_) => counts.swallowed += 1,
        None => {}
    }
    mode
}

/// Count one call of `service:Operation` as `f` says.
pub(super) fn count(control: &Mutex<Control>, call: &ApiRequest, f: impl FnOnce(&mut CallCounts)) {
    let key = format!("{}:{}", call.service, call.operation);
    f(lock(control).counts.calls.entry(key).or_default());
}

/// Pick the fault for one call and count it.
pub(super) fn decide(control: &Mutex<Control>, call: &ApiRequest) -> (Option<Fault>, Duration) {
    let mut control = lock(control);
    let key = format!("{}:{}", call.service, call.operation);
    let rule = control
        .rules
        .iter()
        .enumerate()
        .position(|(i, r)| {
            r.matches(call)
                && r.times
                    .is_none_or(|times| control.uses.get(&i).copied().unwrap_or(0) < times)
        })
        .map(|i| (i, control.rules[i].clone()));
    if let Some((index, rule)) = &rule {
        if rule.times.is_some() {
            *control.uses.entry(*index).or_default() += 1;
        }
    }
    let down = control.down;
    let mut fault = None;
    let mut latency = Duration::ZERO;
    if down {
        fault = Some(Fault::Drop);
    } else if let Some((index, rule)) = rule {
        latency = rule.latency;
        if let Some(rate) = rule.max_per_second {
            let now = Instant::now();
            let (tokens, last) = control.buckets.entry(index).or_insert((rate.max(1.0), now));
            let refilled = now
                .duration_since(*last)
                .as_secs_f64()
                .mul_add(rate, *tokens);
            *tokens = refilled.min(rate.max(1.0));
            *last = now;
            if *tokens >= 1.0 {
                *tokens -= 1.0;
            } else {
                fault = Some(Fault::Throttle);
            }
        }
        if fault.is_none() {
            let draw = next_unit(&mut control.rng);
            fault = if draw < rule.drop {
                Some(Fault::Drop)
            } else if draw < rule.drop + rule.throttle {
                Some(Fault::Throttle)
            } else if draw < rule.drop + rule.throttle + rule.server_error {
                Some(Fault::ServerError)
            } else if draw < rule.drop + rule.throttle + rule.server_error + rule.drop_reply {
                Some(Fault::DropReply)
            } else {
                None
            };
        }
    }
    let counts = control.counts.calls.entry(key).or_default();
    match fault {
        None => counts.forwarded += 1,
        Some(Fault::Drop) => counts.dropped += 1,
        Some(Fault::Throttle) => counts.throttled += 1,
        Some(Fault::ServerError) => counts.server_errors += 1,
        Some(Fault::DropReply) => {
            counts.forwarded += 1;
            counts.replies_dropped += 1;
        }
    }
    (fault, latency)
}

/// SplitMix64 → [0, 1).
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
