//! The fleet's RTO against the objective, and DR's IoT quotas against primary's: whether
//! the patients' wearables, not only DNS, would be back in DR in time.

use dr_core::certificate::CertificateStatus;
use dr_core::failover::{DnsRto, FleetRto, IotQuotaCode};
use dr_core::reconcile::count_by_status;
use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::iot::IotRegistry;
use crate::quotas::{iot_quotas, model_quotas, QuotaValue};
use crate::AwsSession;

const RTO: &str = "fleet RTO";
const QUOTAS: &str = "IoT quotas DR vs primary";

/// Both checks: the model's time to 50/90/99 % of the fleet connected in DR (failing past
/// `[objectives] rto_seconds`, or when DR cannot hold the fleet), and each quota DR has
/// below primary's (a fleet that fits primary may not fit DR).
pub(super) async fn fleet_checks(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let (dr_quotas, primary_quotas, devices) = tokio::join!(
        iot_quotas(session, Side::Dr),
        iot_quotas(session, Side::Primary),
        fleet_size(session, topology),
    );
    let rto = match (&dr_quotas, devices) {
        (Err(e), _) => unreadable(RTO, Side::Dr, topology, e),
        (_, Err(check)) => check,
        (Ok(dr), Ok((devices, counted))) => rto_check(topology, dr, devices, &counted),
    };
    let quotas = match (&dr_quotas, &primary_quotas) {
        (Err(e), _) => unreadable(QUOTAS, Side::Dr, topology, e),
        (_, Err(e)) => unreadable(QUOTAS, Side::Primary, topology, e),
        (Ok(dr), Ok(primary)) => compare_quotas(dr, primary),
    };
    vec![rto, quotas]
}

/// `[fleet] devices`, or the ACTIVE certificates of DR's registry (the fleet that can
/// connect there; primary's, when larger and readable).
async fn fleet_size(session: &AwsSession, topology: &Topology) -> Result<(u64, String), Check> {
    if let Some(devices) = topology.fleet.devices {
        return Ok((devices, "[fleet] devices".to_owned()));
    }
    let active = |side| async move {
        count_by_status(&IotRegistry::for_side(session, topology, side))
            .await
            .map(|counts| counts.get(&CertificateStatus::Active).copied().unwrap_or(0))
    };
    let (dr, primary) = tokio::join!(active(Side::Dr), active(Side::Primary));
    match (dr, primary) {
        (Err(e), _) => Err(unreadable(RTO, Side::Dr, topology, &e)),
        (Ok(dr), Ok(primary)) if primary > dr => {
            Ok((primary, "ACTIVE certificates in primary".to_owned()))
        }
        (Ok(dr), _) => Ok((dr, "ACTIVE certificates in DR".to_owned())),
    }
}

fn rto_check(
    topology: &Topology,
    dr: &[(IotQuotaCode, QuotaValue)],
    devices: u64,
    counted: &str,
) -> Check {
    let model = FleetRto::model(
        DnsRto::of(topology),
        &topology.fleet,
        model_quotas(dr),
        devices,
    );
    let objectives = &topology.objectives;
    let percent = objectives.rto_fleet_percent;
    let detail = format!("{model} ({counted})");
    if !model.fleet_fits() {
        return check(
            RTO,
            Verdict::Fail,
            format!(
                "{detail}: DR's account holds {} connections, the fleet is {devices}; raise {} \
                 ({}) in DR",
                model.quotas.concurrent_connections,
                IotQuotaCode::ConcurrentConnections.code(),
                IotQuotaCode::ConcurrentConnections.name()
            ),
        );
    }
    let Some(objective) = objectives.rto_seconds else {
        return check(
            RTO,
            Verdict::Warn,
            format!("{detail}: no [objectives] rto_seconds to judge it against"),
        );
    };
    match model.at_percent(percent) {
        Some(seconds) if seconds <= objective as f64 => check(
            RTO,
            Verdict::Ok,
            format!("{detail}: {percent}% within the {objective} s objective"),
        ),
        reached => check(
            RTO,
            Verdict::Fail,
            format!(
                "{detail}: {percent}% connected {} — over the {objective} s objective; {}",
                reached.map_or("never".to_owned(), |s| format!("after {s:.0} s")),
                advice(topology, &model)
            ),
        ),
    }
}

/// The largest term first: what would shorten the fleet's RTO most.
fn advice(topology: &Topology, model: &FleetRto) -> String {
    let fleet = &topology.fleet;
    let drain = model.devices as f64 / model.admitted_per_second.max(f64::MIN_POSITIVE);
    if drain > f64::from(fleet.keep_alive_seconds) {
        format!(
            "the reconnect storm dominates ({drain:.0} s at {:.0}/s): raise {} ({}) or {} ({}) \
             in DR",
            model.admitted_per_second,
            IotQuotaCode::ConnectsPerSecond.code(),
            IotQuotaCode::ConnectsPerSecond.name(),
            IotQuotaCode::SubscriptionsPerSecond.code(),
            IotQuotaCode::SubscriptionsPerSecond.name()
        )
    } else {
        format!(
            "device detection dominates (keep-alive {} s): devices should use a keep-alive \
             ≤ 60 s, re-resolve DNS on every reconnect and cap their back-off ({} ms now)",
            fleet.keep_alive_seconds, fleet.backoff.cap_ms
        )
    }
}

fn compare_quotas(
    dr: &[(IotQuotaCode, QuotaValue)],
    primary: &[(IotQuotaCode, QuotaValue)],
) -> Check {
    let mut lower = Vec::new();
    let mut shown = Vec::new();
    for (code, in_dr) in dr {
        let Some((_, in_primary)) = primary.iter().find(|(c, _)| c == code) else {
            continue;
        };
        let source = |v: &QuotaValue| if v.applied { "" } else { " (default)" };
        shown.push(format!("{} {}{}", code.code(), in_dr.value, source(in_dr)));
        if in_dr.value < in_primary.value {
            lower.push(format!(
                "{} ({}) is {} in DR, {} in primary: raise it in DR",
                code.code(),
                code.name(),
                in_dr.value,
                in_primary.value
            ));
        }
    }
    if lower.is_empty() {
        check(
            QUOTAS,
            Verdict::Ok,
            format!("DR's at least primary's: {}", shown.join(", ")),
        )
    } else {
        check(QUOTAS, Verdict::Fail, lower.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(values: [f64; 4], applied: bool) -> Vec<(IotQuotaCode, QuotaValue)> {
        IotQuotaCode::ALL
            .into_iter()
            .zip(values)
            .map(|(code, value)| (code, QuotaValue { value, applied }))
            .collect()
    }

    #[test]
    fn a_quota_lower_in_dr_than_in_primary_fails_naming_its_code() {
        let primary = read([3_000.0, 3_000.0, 500_000.0, 10.0], true);
        let dr = read([500.0, 3_000.0, 500_000.0, 10.0], false);
        let verdict = compare_quotas(&dr, &primary);
        assert_eq!(verdict.verdict, Verdict::Fail);
        assert!(verdict.detail.contains("L-AEA1E176"), "{}", verdict.detail);
        assert!(!verdict.detail.contains("L-75CAB723"), "{}", verdict.detail);
        assert_eq!(compare_quotas(&primary, &primary).verdict, Verdict::Ok);
    }
}
