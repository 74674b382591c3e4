//! The simulation itself: the fleet registered device by device in primary, each call's
//! events handed to capture and the queue polled as they arrive, then revocations, a
//! drain, and the report.

use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::AwsSession;
use dr_core::time::now_millis;
use dr_core::Topology;

use super::canary::write_canary;
use super::error::FleetError;
use super::naming::CANARY;
use super::provisioner::Provisioner;
use super::report::{compare, missing_setup, FleetReport};
use super::wiring::ReplicationWiring;
use crate::devices::FleetCa;
use crate::local_lambda::Poll;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    /// Devices to register (the canary comes on top).
    pub devices: usize,
    /// Of those, how many register just in time (spread through the fleet).
    pub jitr: usize,
    /// Of those, how many are revoked after registration.
    pub revoke: usize,
    /// Thing names are `<prefix>-0001`…
    pub prefix: String,
    /// Where the fleet CA and the canary's certificate and key are written.
    pub out_dir: PathBuf,
}

/// Progress, after each device.
#[derive(Debug, Clone, Copy)]
pub struct FleetProgress {
    /// Devices registered in primary so far.
    pub registered: usize,
    /// Of the plan.
    pub total: usize,
    /// Events handed to capture so far.
    pub events: usize,
    /// Messages handed to the replicator so far.
    pub delivered: usize,
}

/// Register the fleet in primary, emit the events AWS would, replicate through `wiring`,
/// and compare every certificate's status on both sides.
pub async fn simulate_fleet(
    session: &AwsSession,
    topology: &Topology,
    wiring: &ReplicationWiring,
    plan: &FleetPlan,
    mut on_progress: impl FnMut(FleetProgress),
) -> Result<FleetReport, FleetError> {
    let started = Instant::now();
    let provisioner = Provisioner::new(session, topology);
    let ca = FleetCa::new(&format!("wearables fleet CA {}", now_millis()));
    provisioner.register_ca(session, &ca).await?;
    provisioner.ensure_policy().await?;
    provisioner.ensure_iot_roles(session).await?;

    let mut events = 0;
    let mut published = 0;
    for event in provisioner.device_setup().await? {
        published += wiring.capture(&event).await?;
        events += 1;
    }
    let mut deliveries = Poll::default();
    let mut ids = Vec::new();
    // JITR devices spread through the fleet: every `jitr_every`-th one.
    let jitr_every = plan
        .devices
        .checked_div(plan.jitr)
        .map_or(usize::MAX, |every| every.max(1));
    let mut jitr = 0;
    for n in 0..plan.devices {
        let thing = format!("{}-{:04}", plan.prefix, n + 1);
        let device = ca.sign_device(&thing);
        let by_jitr = jitr < plan.jitr && n % jitr_every == 0;
        let emitted = if by_jitr {
            jitr += 1;
            provisioner
                .register_just_in_time(&ca, &device, &thing)
                .await?
        } else {
            provisioner.register(&ca, &device, &thing).await?
        };
        for event in &emitted {
            published += wiring.capture(event).await?;
        }
        events += emitted.len();
        // The event source mapping polls as messages arrive.
        let poll = wiring.deliver().await?;
        deliveries.delivered += poll.delivered;
        deliveries.failed += poll.failed;
        ids.push(device.id);
        on_progress(FleetProgress {
            registered: n + 1,
            total: plan.devices,
            events,
            delivered: deliveries.delivered,
        });
    }

    // The canary: a device like any other, whose key the control plane keeps.
    let canary = ca.sign_canary(CANARY);
    for event in provisioner.register(&ca, &canary.device, CANARY).await? {
        published += wiring.capture(&event).await?;
        events += 1;
    }
    ids.push(canary.device.id.clone());
    let canary_files = write_canary(&plan.out_dir, &ca, &canary)?;

    // Revocations: spread through the fleet, never the canary.
    let mut revoked = Vec::new();
    let revoke_every = (plan.devices / plan.revoke.max(1)).max(1);
    for n in (revoke_every / 2..plan.devices)
        .step_by(revoke_every)
        .take(plan.revoke)
    {
        let event = provisioner.set_status(&ids[n], SdkStatus::Revoked).await?;
        published += wiring.capture(&event).await?;
        events += 1;
        revoked.push(ids[n].clone());
    }

    let drained = wiring.drain().await?;
    deliveries.delivered += drained.delivered;
    deliveries.failed += drained.failed;

    let mismatches = compare(session, topology, &ids).await?;
    let setup_missing = missing_setup(session, topology).await?;
    Ok(FleetReport {
        fleet_ca: ca.id,
        registered: ids.len(),
        jitr,
        revoked,
        events,
        published,
        deliveries,
        canary: canary_files,
        mismatches,
        setup_missing,
        elapsed: started.elapsed(),
    })
}
