//! Reconciling 10,000 certificates (`DRCTL_BENCH_RECONCILE_CERTIFICATES`) with 5% drift
//! through the sandbox, both tiers: wall time and API calls of a dry run and of the repair
//! (status pass first, then the deep pass behind it), and the time the same calls take on
//! paper at `reconcile.max_calls_per_second` per account. A timed harness; `make bench`
//! prints the table. No rate limit here (the sandbox has no quotas).

use std::time::Instant;

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::AwsSession;
use dr_core::reconcile::{Reconciler, MAX_PAGE_SIZE};
use dr_core::replication::message::SourceRef;
use dr_core::replication::ArnRewrite;
use dr_core::time::now_millis;
use dr_core::{CertificatePem, Side, Topology};
use dr_sandbox::{LauncherPaths, SandboxServer};

const POLICY: &str = "fleet-wearable";

#[tokio::main]
async fn main() {
    let certificates: usize = std::env::var("DRCTL_BENCH_RECONCILE_CERTIFICATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let log =
        std::env::temp_dir().join(format!("drctl-bench-reconcile-{}.log", std::process::id()));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let topology = Topology::parse(
        include_str!("../../config/sandbox.toml"),
        "config/sandbox.toml",
        [(
            "DRCTL__SANDBOX__ENDPOINT".to_owned(),
            server.endpoint().to_string(),
        )],
    )
    .unwrap();
    dr_sandbox::provision(&topology).await.unwrap();
    // Fixtures are the administrator's; the pass runs under the reconciler's roles.
    let session = AwsSession::connect(&dr_sandbox::identity::as_admin(&topology), "bench").await;
    let reconciler = AwsSession::connect(
        &dr_sandbox::identity::as_function(&topology, "reconciler"),
        "bench",
    )
    .await;

    // The same fleet on both sides, as replication left it.
    let pems: Vec<String> = (0..certificates)
        .map(|i| {
            rcgen::generate_simple_self_signed(vec![format!("r{i}.example.com")])
                .unwrap()
                .cert
                .pem()
        })
        .collect();
    // A quarter of the drifted ones DR never got (registering and deleting them there would
    // cost moto's delete, which is quadratic in the fleet).
    let drifted = certificates / 20;
    let lost = |i: usize| i < drifted && i % 4 == 0;
    for side in [Side::Primary, Side::Dr] {
        let iot = session.iot(side);
        let (account, region) = (&topology.side(side).account_id, &topology.side(side).region);
        let document = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:{region}:{account}:client/*"}}]}}"#
        );
        iot.create_policy()
            .policy_name(POLICY)
            .policy_document(document)
            .send()
            .await
            .unwrap();
        for (i, pem) in pems.iter().enumerate() {
            if side == Side::Dr && lost(i) {
                continue;
            }
            let arn = iot
                .register_certificate_without_ca()
                .certificate_pem(pem)
                .status(SdkStatus::Active)
                .send()
                .await
                .unwrap()
                .certificate_arn()
                .unwrap()
                .to_owned();
            iot.attach_policy()
                .policy_name(POLICY)
                .target(arn)
                .send()
                .await
                .unwrap();
        }
    }

    // 5% drift in DR: a quarter each lost, deactivated, detached, and extra.
    let dr = session.iot(Side::Dr);
    for (i, pem) in pems.iter().take(drifted).enumerate() {
        let id = CertificatePem::parse(pem).unwrap().id().to_string();
        let arn = format!(
            "arn:aws:iot:{}:{}:cert/{id}",
            topology.dr.region, topology.dr.account_id
        );
        match i % 4 {
            0 => {} // lost: never registered in DR (above)
            1 => {
                dr.update_certificate()
                    .certificate_id(&id)
                    .new_status(SdkStatus::Inactive)
                    .send()
                    .await
                    .unwrap();
            }
            2 => {
                dr.detach_policy()
                    .policy_name(POLICY)
                    .target(&arn)
                    .send()
                    .await
                    .unwrap();
            }
            _ => {
                let extra =
                    rcgen::generate_simple_self_signed(vec![format!("extra{i}.example.com")])
                        .unwrap()
                        .cert
                        .pem();
                dr.register_certificate_without_ca()
                    .certificate_pem(extra)
                    .status(SdkStatus::Active)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    let registry = |side: Side| IotRegistry::for_side(&reconciler, &topology, side);
    let ledger = DynamoLedger::new(
        reconciler.dynamodb(Side::Dr),
        topology.replication.ledger_table.as_str(),
    );
    let rewrite = ArnRewrite::primary_to_dr(&topology);
    let source = SourceRef {
        account_id: topology.primary.account_id.clone(),
        region: topology.primary.region.clone(),
    };

    let rate = topology.reconcile.max_calls_per_second;
    let mut rows = Vec::new();
    for (tier, apply) in [
        ("status", false),
        ("deep", false),
        ("status", true),
        ("deep", true),
    ] {
        let (primary, dr) = (registry(Side::Primary), registry(Side::Dr));
        let reconciler = Reconciler {
            source: &primary,
            target: &dr,
            ledger: &ledger,
            source_ref: source.clone(),
            rewrite: rewrite.clone(),
            apply_repairs: apply,
            page_size: MAX_PAGE_SIZE,
        };
        let started = Instant::now();
        let (found, repaired) = if tier == "status" {
            let report = reconciler.status_pass(|| true, &now_millis).await.unwrap();
            let c = report.counts;
            let found = format!(
                "missing {} / status {} / conflicts {} / extra {}",
                c.missing, c.status, c.conflicts, c.extra
            );
            (found, report.repaired)
        } else {
            let report = reconciler.run_to_end(now_millis).await.unwrap();
            let c = report.counts;
            let found = format!(
                "missing {} / status {} / thing links {} / policies {} / conflicts {} / extra {}",
                c.missing, c.status, c.thing_links, c.policies, c.conflicts, c.extra
            );
            (found, report.repaired)
        };
        let seconds = started.elapsed().as_secs_f64();
        let (p, d) = (primary.calls(), dr.calls());
        rows.push(format!(
            "| {tier} {} | {seconds:.1} s | {found} | {repaired} | {p} / {d} | {:.1} min |",
            if apply { "repair" } else { "dry run" },
            p.max(d) as f64 / rate / 60.0,
        ));
    }
    server.stop().await.unwrap();

    println!("reconcile, {certificates} certificates per side with 5% drift (a quarter each lost, deactivated, detached, extra; sandbox, debug build, no rate limit)");
    println!("| pass | wall time | found | repaired | IoT calls primary / DR | on paper at {rate} calls/s per account |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
