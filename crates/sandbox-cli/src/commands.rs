//! `drctl-sandbox up|down|reset|status`: the local two-account world for demos and hands-on
//! work; `fleet`, `outage` and `endpoint` play what AWS and a real fleet would do in it
//! (events, a regional outage, an IoT endpoint), so the demo shows the real Lambda binaries
//! at work. Tests never use `up`/`down`; they start their own server (see
//! `tests/sandbox/helpers.rs`).
//!
//! What plays AWS (provisioning, the fleet's own calls, the event source mapping, the
//! endpoint stand-in) acts as the sandbox's administrator; the Lambdas it starts hold the
//! roles the CDK app gives them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use dr_aws::iot::IotRegistry;
use dr_aws::AwsSession;
use dr_core::Endpoint;
use dr_core::Side;
use dr_core::Topology;
use dr_sandbox::fault_proxy::control::ProxyClient;
use dr_sandbox::fault_proxy::{OutageMode, OutageScope};
use dr_sandbox::fleet::{simulate_fleet, FleetPlan, LambdaPaths, ReplicationWiring};
use dr_sandbox::identity::as_admin;
use dr_sandbox::iot_endpoint::{DeviceAuth, LocalIotEndpoint};
use dr_sandbox::launcher::{self, ProxyCommand, Started};
use dr_sandbox::outage::{simulate_outage, OutagePlan, Phase};
use dr_sandbox::LauncherPaths;

#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Start the sandbox (if not running) and provision both accounts. Idempotent.
    Up(StateDir),
    /// Stop the sandbox started by `up`. Idempotent.
    Down(StateDir),
    /// Forget every resource, then provision both accounts afresh.
    Reset(StateDir),
    /// Say whether the sandbox runs, and where.
    Status(StateDir),
    /// Register a simulated fleet in primary (JITR among it, one revocation), emit the
    /// events AWS would, and replicate them to DR through the real capture and replicator
    /// binaries; then compare every certificate on both sides.
    Fleet(FleetArgs),
    /// A regional outage as AWS has them: every call signed for a region (or to Route 53's
    /// control plane) refused, hung or slowed; and a primary outage played against the real
    /// health-checker binary.
    #[command(subcommand)]
    Outage(OutageCommand),
    /// Serve a stand-in for DR's IoT endpoint that lets in only devices ACTIVE in DR's
    /// registry (the drill's canary connects to it). Runs until interrupted.
    Endpoint(EndpointArgs),
    /// The sandbox's proxy process (started by `up`): IAM and outages in front of moto.
    #[command(hide = true)]
    Proxy(ProxyArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutageCommand {
    /// Take a region (or Route 53's control plane) down.
    Start(OutageStartArgs),
    /// Bring it back.
    End(ScopeArg),
    /// The outages in force, and what each region's calls met.
    Status,
    /// Play a primary outage against the real health-checker binary: probe a stand-in for
    /// primary's endpoint, stop it, and show the automatic failover.
    Simulate(OutageArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ScopeArg {
    /// `primary`, `dr`, a region name, or `route53` (its global control plane).
    #[arg(long, default_value = "primary")]
    scope: String,
}

#[derive(Debug, Args)]
pub(crate) struct OutageStartArgs {
    #[command(flatten)]
    scope: ScopeArg,
    /// `hang` (accepted, never answered: the usual failure), `refuse` (closed without an
    /// answer) or `slow` (answered after --seconds).
    #[arg(long, default_value = "hang")]
    mode: String,
    /// The delay of `slow`.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The loopback port to listen on.
    #[arg(long)]
    listen: u16,
    /// moto's endpoint.
    #[arg(long)]
    upstream: Endpoint,
}

#[derive(Debug, Args)]
pub(crate) struct FleetArgs {
    /// Devices to register (a canary device comes on top).
    #[arg(long, default_value_t = 200)]
    devices: usize,
    /// Of those, how many register just in time.
    #[arg(long, default_value_t = 40)]
    jitr: usize,
    /// Of those, how many are revoked afterwards.
    #[arg(long, default_value_t = 1)]
    revoke: usize,
    /// Thing names are <prefix>-0001 and on.
    #[arg(long, default_value = "wearable")]
    prefix: String,
    /// Where the fleet CA and the canary's certificate and key are written.
    #[arg(long, default_value = ".sandbox/fleet")]
    out_dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct OutageArgs {
    /// How primary's region fails: `hang` (accepted, never answered) or `refuse`.
    #[arg(long, default_value = "hang")]
    mode: String,
    /// Route 53's control plane fails too.
    #[arg(long)]
    route53_down: bool,
    /// Healthy rounds before the outage.
    #[arg(long, default_value_t = 3)]
    healthy_rounds: usize,
    /// Give up after this many rounds of outage without a finished failover.
    #[arg(long, default_value_t = 10)]
    max_outage_rounds: usize,
    /// Then bring the region back and let the checker probe it this many rounds
    /// (failback's first precondition); 0 leaves the outage in force.
    #[arg(long, default_value_t = 2)]
    recovery_rounds: usize,
    /// Pause between rounds, in milliseconds (the one-minute schedule, sped up).
    #[arg(long, default_value_t = 1000)]
    pause_ms: u64,
    /// Where the stand-in's CA and the checker's configuration are written.
    #[arg(long, default_value = ".sandbox/outage")]
    work_dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct EndpointArgs {
    /// The port to listen on (loopback).
    #[arg(long)]
    port: u16,
    /// The CA whose device certificates the endpoint accepts (`drctl-sandbox fleet` writes
    /// it as fleet-ca.pem).
    #[arg(long)]
    device_ca: PathBuf,
    /// Where the endpoint's own CA is written (what clients trust).
    #[arg(long, default_value = ".sandbox/dr-endpoint")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct StateDir {
    /// Where the sandbox's pid, endpoint and log are kept.
    #[arg(long, env = "DRCTL_SANDBOX_DIR", default_value = ".sandbox")]
    state_dir: PathBuf,
}

pub(crate) async fn run(
    command: SandboxCommand,
    topology: &Topology,
    config: &Path,
) -> anyhow::Result<()> {
    let sandbox = topology.sandbox.as_ref().context(
        "this config has no [sandbox] section, so it points at real AWS; \
         use config/sandbox.toml for the local sandbox",
    )?;
    let paths = LauncherPaths::from_build();
    match command {
        SandboxCommand::Up(dir) => {
            let proxy = ProxyCommand {
                program: std::env::current_exe().context("where drctl-sandbox runs from")?,
                args: vec!["proxy".to_owned()],
            };
            let (state, started) =
                launcher::start_detached(&paths, &sandbox.endpoint, &dir.state_dir, &proxy).await?;
            match started {
                Started::New => println!(
                    "sandbox  started  {} (proxy pid {}: IAM enforced, outages on demand) → moto {} (pid {}, log {})",
                    state.endpoint,
                    state.proxy_pid,
                    state.moto,
                    state.pid,
                    state.log.display()
                ),
                Started::AlreadyRunning => {
                    println!("sandbox  running  {} (pid {})", state.endpoint, state.pid)
                }
            }
            provision_and_report(topology).await
        }
        SandboxCommand::Down(dir) => {
            match launcher::stop_detached(&dir.state_dir).await? {
                Some(state) => println!("sandbox  stopped  {} (pid {})", state.endpoint, state.pid),
                None => println!("sandbox  not running"),
            }
            Ok(())
        }
        SandboxCommand::Reset(dir) => {
            launcher::running_detached(&dir.state_dir)?
                .context("the sandbox is not running; start it with `drctl-sandbox up`")?;
            launcher::reset(&sandbox.endpoint).await?;
            println!("sandbox  reset    every account emptied");
            provision_and_report(topology).await
        }
        SandboxCommand::Status(dir) => {
            match launcher::running_detached(&dir.state_dir)? {
                Some(state) => {
                    launcher::check_health(&state.endpoint).await?;
                    println!("sandbox  running  {} (pid {})", state.endpoint, state.pid);
                }
                None => println!("sandbox  not running"),
            }
            Ok(())
        }
        SandboxCommand::Fleet(args) => fleet(args, topology, config).await,
        SandboxCommand::Outage(command) => {
            outage_command(command, topology, &sandbox.endpoint).await
        }
        SandboxCommand::Endpoint(args) => endpoint(args, topology).await,
        SandboxCommand::Proxy(args) => proxy(&args).await,
    }
}

/// `drctl-sandbox proxy`: serve until stopped.
pub(crate) async fn proxy(args: &ProxyArgs) -> anyhow::Result<()> {
    Ok(launcher::serve_proxy(args.listen, &args.upstream).await?)
}

/// The built Lambda binaries sit beside drctl-sandbox (one cargo target directory).
fn lambda_paths() -> anyhow::Result<LambdaPaths> {
    let exe = std::env::current_exe().context("where drctl-sandbox runs from")?;
    let bin_dir = exe.parent().context("drctl-sandbox's directory")?;
    Ok(LambdaPaths::new(bin_dir))
}

async fn fleet(args: FleetArgs, topology: &Topology, config: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.jitr <= args.devices && args.revoke <= args.devices,
        "--jitr and --revoke count devices of --devices ({})",
        args.devices
    );
    let session = AwsSession::connect(&as_admin(topology), "drctl").await;
    // The functions read the same topology drctl did (DRCTL__ overrides are inherited).
    let env = [("DRCTL_CONFIG".to_owned(), config.display().to_string())];
    println!("fleet    starting cert-capture and cert-replicator behind the Runtime API emulator");
    let wiring = ReplicationWiring::start(&lambda_paths()?, &env, &session, topology).await?;
    let plan = FleetPlan {
        devices: args.devices,
        jitr: args.jitr,
        revoke: args.revoke,
        prefix: args.prefix,
        out_dir: args.out_dir,
    };
    let report = simulate_fleet(&session, topology, &wiring, &plan, |p| {
        if p.registered % 25 == 0 || p.registered == p.total {
            println!(
                "fleet    {:>4}/{} devices registered in primary · {:>4} events captured · {:>4} messages applied in DR",
                p.registered, p.total, p.events, p.delivered
            );
        }
    })
    .await?;
    println!(
        "fleet    {} certificates under CA {} ({} by JITR, canary included), {} revoked",
        report.registered,
        &report.fleet_ca.as_str()[..12],
        report.jitr,
        report.revoked.len()
    );
    for id in &report.revoked {
        println!("revoked  {id}");
    }
    println!(
        "pipeline {} events → capture published {} messages → replicator took {} ({} failed and retried) in {:.1} s",
        report.events,
        report.published,
        report.deliveries.delivered,
        report.deliveries.failed,
        report.elapsed.as_secs_f64()
    );
    println!(
        "canary   {} (certificate {}, key {} — mode 0600, never in a message)",
        report.canary.client_id,
        report.canary.cert_file.display(),
        report.canary.key_file.display()
    );
    if !report.setup_missing.is_empty() {
        anyhow::bail!(
            "DR lacks the fleet's {}; `drctl dlq list` says why",
            report.setup_missing.join(", ")
        );
    }
    println!(
        "groups   {} > {} with {} on {}, every wearable in its ward, role alias {}: all in DR",
        dr_sandbox::fleet::FLEET_ROOT_GROUP,
        dr_sandbox::fleet::FLEET_WARD_GROUP,
        dr_sandbox::fleet::GROUP_POLICY,
        dr_sandbox::fleet::FLEET_ROOT_GROUP,
        dr_sandbox::fleet::ROLE_ALIAS,
    );
    if report.mismatches.is_empty() {
        println!(
            "parity   every certificate of the fleet has primary's status in DR (revoked stays revoked)"
        );
        Ok(())
    } else {
        for m in &report.mismatches {
            println!("DIFFERS  {} primary {:?} DR {:?}", m.id, m.primary, m.dr);
        }
        anyhow::bail!(
            "{} certificate(s) differ between primary and DR; `drctl dlq list` says why",
            report.mismatches.len()
        )
    }
}

async fn outage(args: OutageArgs, topology: &Topology) -> anyhow::Result<()> {
    let mode = match args.mode.as_str() {
        "hang" => OutageMode::Hang,
        "refuse" => OutageMode::Refuse,
        other => anyhow::bail!("--mode {other}: expected hang or refuse"),
    };
    let plan = OutagePlan {
        topology: topology.clone(),
        mode,
        route53_down: args.route53_down,
        healthy_rounds: args.healthy_rounds,
        max_outage_rounds: args.max_outage_rounds,
        recovery_rounds: args.recovery_rounds,
        pause: Duration::from_millis(args.pause_ms),
        work_dir: args.work_dir,
    };
    println!("outage   health-checker behind the Runtime API emulator, probing a stand-in for primary's endpoint");
    let mut phase = Phase::Healthy;
    let report = simulate_outage(&lambda_paths()?, &plan, |round| {
        if round.phase != phase {
            phase = round.phase;
            match phase {
                Phase::Outage => println!(
                    "outage   ── primary's region {mode}s: every call signed for {}{} and its IoT endpoint; the checker cold-starts ──",
                    plan.topology.primary.region,
                    if plan.route53_down { ", Route 53's control plane" } else { "" },
                ),
                Phase::Recovered => println!(
                    "outage   ── the region is back; DR serves until an operator fails back ──"
                ),
                Phase::Healthy => {}
            }
        }
        let a = &round.answer;
        let steps = a["steps"]
            .as_array()
            .filter(|s| !s.is_empty())
            .map(|s| {
                let names: Vec<&str> = s.iter().filter_map(|v| v.as_str()).collect();
                format!("  runbook: {}", names.join(", "))
            })
            .unwrap_or_default();
        let decision = match (a["decision"].as_str(), a["reason"].as_str()) {
            (Some("fail-over"), Some(reason)) => format!("FAIL OVER: {reason}"),
            (decision, _) => decision.unwrap_or_default().to_owned(),
        };
        println!(
            "round {:>2} {:<5} mode {:<12} {}{}{}{}",
            round.number,
            if a["down"] == true { "DOWN" } else { "up" },
            a["mode"].as_str().unwrap_or("?"),
            decision,
            steps,
            a["error"]
                .as_str()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default(),
            a["finished"]["notes"]
                .as_str()
                .map(|n| format!("\n         runbook finished: {n}"))
                .unwrap_or_default(),
        );
    })
    .await?;
    println!(
        "failover automatic: decided in outage round {} ({:.1} s after the outage began), runbook finished after {:.1} s",
        report.decided_in_round,
        report.to_decision.as_secs_f64(),
        report.to_failed_over.as_secs_f64()
    );
    println!(
        "outage   calls that reached {} while it was down: {} (the failover path calls DR only); Route 53's control plane: {} ({} swallowed, off the failover path)",
        plan.topology.primary.region,
        report.primary_calls.attempted,
        report.route53_calls.attempted,
        report.route53_calls.swallowed,
    );
    Ok(())
}

async fn endpoint(args: EndpointArgs, topology: &Topology) -> anyhow::Result<()> {
    let device_ca_pem = std::fs::read_to_string(&args.device_ca).with_context(|| {
        format!(
            "reading {} (run `drctl-sandbox fleet` first)",
            args.device_ca.display()
        )
    })?;
    // IoT Core's own view of DR's registry: AWS, not a principal of ours.
    let session = AwsSession::connect(&as_admin(topology), "drctl").await;
    let auth = DeviceAuth {
        device_ca_pem,
        registry: IotRegistry::for_side(&session, topology, Side::Dr),
        arn_prefix: format!(
            "arn:aws:iot:{}:{}",
            topology.dr.region, topology.dr.account_id
        ),
    };
    let endpoint = LocalIotEndpoint::start(&args.dir, args.port, Some(auth)).await?;
    println!(
        "READY 127.0.0.1 {} {}",
        endpoint.port,
        endpoint.ca_file.display()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for an interrupt")?;
    Ok(())
}

async fn provision_and_report(topology: &Topology) -> anyhow::Result<()> {
    for line in dr_sandbox::provision(topology).await? {
        println!("{line}");
    }
    let session = AwsSession::connect(topology, "drctl").await;
    for line in dr_aws::identity::whoami(&session, topology).await? {
        println!("identity {line}");
    }
    Ok(())
}

/// `--scope`: a side's region, a region by name, or Route 53's control plane.
fn scope(topology: &Topology, scope: &str) -> anyhow::Result<OutageScope> {
    Ok(match scope {
        "route53" => OutageScope::Route53,
        "primary" => OutageScope::Region {
            region: topology.primary.region.to_string(),
        },
        "dr" => OutageScope::Region {
            region: topology.dr.region.to_string(),
        },
        region => OutageScope::Region {
            region: region
                .parse::<dr_core::Region>()
                .map_err(|e| anyhow::anyhow!("--scope: {e}; or primary, dr, route53"))?
                .to_string(),
        },
    })
}

async fn outage_command(
    command: OutageCommand,
    topology: &Topology,
    endpoint: &Endpoint,
) -> anyhow::Result<()> {
    let proxy = ProxyClient::new(endpoint.as_str());
    match command {
        OutageCommand::Start(args) => {
            let mode = match args.mode.as_str() {
                "hang" => OutageMode::Hang,
                "refuse" => OutageMode::Refuse,
                "slow" => OutageMode::Slow {
                    seconds: args.seconds,
                },
                other => anyhow::bail!("--mode {other}: expected hang, refuse or slow"),
            };
            let scope = scope(topology, &args.scope.scope)?;
            proxy.set_outage(scope.clone(), Some(mode)).await?;
            println!(
                "outage   {scope}: {mode} (until `drctl-sandbox outage end --scope {}`)",
                args.scope.scope
            );
        }
        OutageCommand::End(args) => {
            let scope = scope(topology, &args.scope)?;
            proxy.set_outage(scope.clone(), None).await?;
            println!("outage   {scope}: over");
        }
        OutageCommand::Status => {
            let outages = proxy.outages().await?;
            if outages.is_empty() {
                println!("outage   none in force");
            }
            for change in outages {
                if let Some(mode) = change.outage {
                    println!("outage   {}: {mode}", change.scope);
                }
            }
            for (key, counts) in proxy.counts().await?.regions {
                println!(
                    "calls    {key:<28} attempted {:>6}  swallowed {:>6}  slowed {:>6}",
                    counts.attempted, counts.swallowed, counts.slowed
                );
            }
        }
        OutageCommand::Simulate(args) => outage(args, topology).await?,
    }
    Ok(())
}
