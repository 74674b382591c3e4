//! A simulated fleet in primary, replicated to DR through the real Lambda binaries.
//!
//! What a fleet provisioner (and AWS IoT) would do in primary — register a fleet CA,
//! register device certificates (most by RegisterCertificate, some by just-in-time
//! registration followed by activation), create things, attach things and a policy, put
//! every wearable in its ward's thing group (whose parent carries the alerts policy), keep a
//! role alias for uploads, revoke a certificate — done against the sandbox's primary
//! account. After each API call the
//! event AWS would emit for it is handed to the capture binary, and the replication queue
//! is fed to the replicator binary, as the SQS event source mapping would. Nothing is
//! written to DR except by the replicator (and the fleet CA, which operators register in
//! both regions — a readiness precondition).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_iot::error::ProvideErrorMetadata;
use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::iot::IotRegistry;
use dr_aws::{names, AwsSession};
use dr_core::replication::CertificateRegistry;
use dr_core::time::{now_millis, EpochMillis};
use dr_core::{CertificateId, CertificateStatus, Side, Topology};
use serde_json::{json, Value};

use crate::devices::{Device, FleetCa};
use crate::events::EventSource;
use crate::local_lambda::{LocalFunction, LocalLambdaError, Poll, SqsEventSource};

/// The fleet's one policy (its ARNs are primary's; the replicator rewrites them for DR).
pub const FLEET_POLICY: &str = "wearable-telemetry";
/// The canary's thing name and MQTT client id.
pub const CANARY: &str = "dr-canary";
/// The fleet's root thing group; its policy reaches every ward's wearables.
pub const FLEET_ROOT_GROUP: &str = "hospital";
/// The ward group every wearable is in, under [`FLEET_ROOT_GROUP`].
pub const FLEET_WARD_GROUP: &str = "ward-cardiology";
/// The policy attached to [`FLEET_ROOT_GROUP`]: publishing alerts.
pub const GROUP_POLICY: &str = "ward-alerts";
/// The role alias wearables fetch upload credentials through.
pub const ROLE_ALIAS: &str = "wearable-uploads";
/// The fleet-provisioning template new wearables enrol with (claim certificate, then
/// `RegisterThing`): a thing in [`FLEET_WARD_GROUP`], its certificate, [`FLEET_POLICY`].
pub const PROVISIONING_TEMPLATE: &str = "wearable-enrolment";

/// Why the simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A Lambda could not be run or answered with an error.
    #[error(transparent)]
    Lambda(#[from] LocalLambdaError),
    /// A call to the sandbox failed.
    #[error("{call}: {reason}")]
    Call {
        /// Which call.
        call: String,
        /// Why.
        reason: String,
    },
    /// Writing the canary's or the CA's files failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn call_failed(call: impl Into<String>) -> impl FnOnce(String) -> FleetError {
    let call = call.into();
    move |reason| FleetError::Call { call, reason }
}

/// The capture and replicator binaries, wired as AWS wires them.
pub struct ReplicationWiring {
    capture: LocalFunction,
    replicator: LocalFunction,
    queue: SqsEventSource,
}

/// Where the built Lambda binaries and the Runtime API emulator are.
#[derive(Debug, Clone)]
pub struct LambdaPaths {
    /// `cargo-lambda` (installed in the venv by `make setup`).
    pub cargo_lambda: PathBuf,
    /// The directory holding the built binaries (`cert-capture`, `health-checker`, …).
    pub bin_dir: PathBuf,
}

impl LambdaPaths {
    /// The venv of the checkout this crate was built from, and `bin_dir`.
    pub fn new(bin_dir: &Path) -> Self {
        Self {
            cargo_lambda: crate::LauncherPaths::repo_root().join(".venv/bin/cargo-lambda"),
            bin_dir: bin_dir.to_owned(),
        }
    }

    /// Start one function with `env` (its configuration), holding the credentials and roles
    /// the CDK app gives it in `topology`'s world ([`crate::identity::function_env`]).
    pub async fn start(
        &self,
        function: &str,
        topology: &Topology,
        env: &[(String, String)],
    ) -> Result<LocalFunction, LocalLambdaError> {
        let mut env = env.to_vec();
        env.extend(crate::identity::function_env(topology, function));
        LocalFunction::start(&self.cargo_lambda, &self.bin_dir.join(function), &env).await
    }
}

impl ReplicationWiring {
    /// Start both functions with `env` (their configuration) and find the queue.
    pub async fn start(
        paths: &LambdaPaths,
        env: &[(String, String)],
        session: &AwsSession,
        topology: &Topology,
    ) -> Result<Self, FleetError> {
        let sqs = session.sqs(Side::Dr);
        let queue_name = names::replication_queue_name(topology);
        let queue_url = sqs
            .get_queue_url()
            .queue_name(&queue_name)
            .send()
            .await
            .map_err(|e| {
                call_failed("GetQueueUrl")(format!(
                    "{} (is the sandbox provisioned? `drctl-sandbox up`)",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            capture: paths.start("cert-capture", topology, env).await?,
            replicator: paths.start("cert-replicator", topology, env).await?,
            queue: SqsEventSource {
                sqs,
                queue_url,
                queue_arn: names::dr_queue_arn(topology, &queue_name),
                region: topology.dr.region.as_str().to_owned(),
                retry_failures_at_once: true,
            },
        })
    }

    /// Hand one event to the capture function; how many messages it published.
    pub async fn capture(&self, event: &Value) -> Result<usize, FleetError> {
        Ok(self.publish(event).await?.len())
    }

    /// Hand one event to the capture function; the subject keys it published.
    pub async fn publish(&self, event: &Value) -> Result<Vec<String>, FleetError> {
        let answer = self.capture.invoke(event).await?;
        answer["published"]
            .as_array()
            .and_then(|published| {
                published
                    .iter()
                    .map(|key| key.as_str().map(str::to_owned))
                    .collect()
            })
            .ok_or_else(|| call_failed("cert-capture")(answer.to_string()))
    }

    /// One poll of the event source mapping.
    pub async fn deliver(&self) -> Result<Poll, FleetError> {
        Ok(self.queue.poll(&self.replicator).await?)
    }

    /// Poll until the queue has been empty twice in a row.
    pub async fn drain(&self) -> Result<Poll, FleetError> {
        let mut total = Poll::default();
        let mut empty = 0;
        while empty < 2 {
            let poll = self.deliver().await?;
            if poll.delivered == 0 {
                empty += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            } else {
                empty = 0;
                total.delivered += poll.delivered;
                total.failed += poll.failed;
            }
        }
        Ok(total)
    }
}

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

/// The canary's files, for `[drill.canary]` and a local DR endpoint.
#[derive(Debug, Clone)]
pub struct CanaryFiles {
    /// The fleet CA's certificate (what DR's endpoint trusts for devices).
    pub fleet_ca_file: PathBuf,
    /// The canary's certificate.
    pub cert_file: PathBuf,
    /// The canary's private key (mode 0600).
    pub key_file: PathBuf,
    /// Its thing name and MQTT client id.
    pub client_id: String,
}

/// A certificate whose DR status differs from primary's after replication.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// Which certificate.
    pub id: CertificateId,
    /// Primary's status.
    pub primary: Option<CertificateStatus>,
    /// DR's status.
    pub dr: Option<CertificateStatus>,
}

/// What the simulation did and found.
#[derive(Debug)]
pub struct FleetReport {
    /// The fleet CA's id.
    pub fleet_ca: CertificateId,
    /// Devices registered (canary included).
    pub registered: usize,
    /// Of those, by JITR.
    pub jitr: usize,
    /// Revoked certificates.
    pub revoked: Vec<CertificateId>,
    /// Events handed to capture.
    pub events: usize,
    /// Messages capture published.
    pub published: usize,
    /// Messages handed to the replicator, and how many it reported failed.
    pub deliveries: Poll,
    /// The canary's files.
    pub canary: CanaryFiles,
    /// Certificates whose DR status differs from primary's (empty when replication worked).
    pub mismatches: Vec<Mismatch>,
    /// What of the fleet's groups, group policy and role alias DR lacks (empty when
    /// replication worked).
    pub setup_missing: Vec<String>,
    /// Wall time of the whole simulation.
    pub elapsed: Duration,
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

/// Every certificate's status in primary and in DR.
async fn compare(
    session: &AwsSession,
    topology: &Topology,
    ids: &[CertificateId],
) -> Result<Vec<Mismatch>, FleetError> {
    let primary = IotRegistry::for_side(session, topology, Side::Primary);
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let mut mismatches = Vec::new();
    for id in ids {
        let (in_primary, in_dr) = (status_of(&primary, id).await?, status_of(&dr, id).await?);
        if in_primary.map(CertificateStatus::in_dr) != in_dr {
            mismatches.push(Mismatch {
                id: id.clone(),
                primary: in_primary,
                dr: in_dr,
            });
        }
    }
    Ok(mismatches)
}

/// The fleet's groups (with the canary in its ward), the group policy and the role alias
/// that DR lacks.
async fn missing_setup(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<String>, FleetError> {
    use dr_core::replication::{
        ProvisioningTemplateRegistry, RoleAliasRegistry, ThingGroupRegistry,
    };
    let dr = IotRegistry::for_side(session, topology, Side::Dr);
    let failed = |call: &str| {
        let call = call.to_owned();
        move |e: dr_core::port::PortError| call_failed(call)(e.to_string())
    };
    let mut missing = Vec::new();
    let ward: dr_core::ThingGroupName = FLEET_WARD_GROUP.parse().expect("a valid name");
    let root: dr_core::ThingGroupName = FLEET_ROOT_GROUP.parse().expect("a valid name");
    match dr
        .thing_group(&ward)
        .await
        .map_err(failed("DescribeThingGroup"))?
    {
        Some(group) if group.ancestors == [root.clone()] => {}
        Some(group) => missing.push(format!("{ward} under {:?}, not {root}", group.parent())),
        None => missing.push(format!("thing group {ward}")),
    }
    let policies = dr
        .thing_group_policy_names(&root)
        .await
        .map_err(failed("ListAttachedPolicies"))?;
    if !policies.iter().any(|p| p.as_str() == GROUP_POLICY) {
        missing.push(format!("{GROUP_POLICY} on {root}"));
    }
    let canary = CANARY.parse().expect("a valid name");
    if !dr
        .thing_group_names(&canary)
        .await
        .map_err(failed("ListThingGroupsForThing"))?
        .contains(&ward)
    {
        missing.push(format!("{CANARY} in {ward}"));
    }
    let alias = ROLE_ALIAS.parse().expect("a valid name");
    if dr
        .role_alias(&alias)
        .await
        .map_err(failed("DescribeRoleAlias"))?
        .is_none()
    {
        missing.push(format!("role alias {ROLE_ALIAS}"));
    }
    let template = PROVISIONING_TEMPLATE.parse().expect("a valid name");
    if dr
        .provisioning_template(&template)
        .await
        .map_err(failed("DescribeProvisioningTemplate"))?
        .is_none()
    {
        missing.push(format!("provisioning template {PROVISIONING_TEMPLATE}"));
    }
    Ok(missing)
}

async fn status_of(
    registry: &IotRegistry,
    id: &CertificateId,
) -> Result<Option<CertificateStatus>, FleetError> {
    registry
        .certificate(id)
        .await
        .map(|view| view.map(|v| v.status))
        .map_err(|e| call_failed("DescribeCertificate")(e.to_string()))
}

fn write_canary(
    dir: &Path,
    ca: &FleetCa,
    canary: &crate::devices::Canary,
) -> Result<CanaryFiles, FleetError> {
    let write = |name: &str, text: &str, private: bool| -> Result<PathBuf, FleetError> {
        let path = dir.join(name);
        let failed = |source| FleetError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(failed)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        options
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(failed)?;
        Ok(path)
    };
    Ok(CanaryFiles {
        fleet_ca_file: write("fleet-ca.pem", &ca.pem, false)?,
        cert_file: write("canary-cert.pem", &canary.device.pem, false)?,
        key_file: write("canary-key.pem", &canary.key_pem, true)?,
        client_id: CANARY.to_owned(),
    })
}

/// The fleet provisioner in primary: each call returns the events AWS emits for it.
struct Provisioner {
    iot: aws_sdk_iot::Client,
    registry: IotRegistry,
    events: EventSource,
}

fn sdk_error<E: std::error::Error + 'static>(e: aws_sdk_iot::error::SdkError<E>) -> String {
    aws_sdk_iot::error::DisplayErrorContext(e).to_string()
}

impl Provisioner {
    fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            iot: session.iot(Side::Primary),
            registry: IotRegistry::for_side(session, topology, Side::Primary),
            events: EventSource {
                account: topology.primary.account_id.to_string(),
                region: topology.primary.region.to_string(),
            },
        }
    }

    /// The fleet CA in both regions, with auto-registration (JITR) on.
    async fn register_ca(&self, session: &AwsSession, ca: &FleetCa) -> Result<(), FleetError> {
        for side in [Side::Primary, Side::Dr] {
            session
                .iot(side)
                .register_ca_certificate()
                .ca_certificate(&ca.pem)
                .set_as_active(true)
                .allow_auto_registration(true)
                .send()
                .await
                .map_err(|e| {
                    call_failed(format!("RegisterCACertificate in {side}"))(sdk_error(e))
                })?;
        }
        Ok(())
    }

    async fn ensure_policy(&self) -> Result<(), FleetError> {
        let arn = |resource: &str| {
            format!(
                "arn:aws:iot:{}:{}:{resource}",
                self.events.region, self.events.account
            )
        };
        let document = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect",
                 "Resource": arn("client/${iot:Connection.Thing.ThingName}")},
                {"Effect": "Allow", "Action": "iot:Publish",
                 "Resource": arn("topic/wearables/${iot:Connection.Thing.ThingName}/telemetry")},
            ]
        });
        match self
            .iot
            .create_policy()
            .policy_name(FLEET_POLICY)
            .policy_document(document.to_string())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(call_failed("CreatePolicy")(sdk_error(e))),
        }
    }

    /// The ward tree, the alerts policy on its root, the uploads role alias and the
    /// enrolment template, as an operator sets them up once; the events AWS emits for each.
    async fn device_setup(&self) -> Result<Vec<Value>, FleetError> {
        let exists =
            |e: &dyn ProvideErrorMetadata| e.code() == Some("ResourceAlreadyExistsException");
        let mut events = Vec::new();
        for (group, parent) in [
            (FLEET_ROOT_GROUP, None),
            (FLEET_WARD_GROUP, Some(FLEET_ROOT_GROUP)),
        ] {
            match self
                .iot
                .create_thing_group()
                .thing_group_name(group)
                .set_parent_group_name(parent.map(str::to_owned))
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| exists(s)) => {}
                Err(e) => return Err(call_failed("CreateThingGroup")(sdk_error(e))),
            }
            events.push(self.events.api_call(
                "CreateThingGroup",
                json!({"thingGroupName": group, "parentGroupName": parent}),
                Value::Null,
                now_millis(),
            ));
        }
        let arn = |resource: &str| {
            format!(
                "arn:aws:iot:{}:{}:{resource}",
                self.events.region, self.events.account
            )
        };
        let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "iot:Publish", "Resource": arn("topic/wards/cardiology/alerts")}]});
        match self
            .iot
            .create_policy()
            .policy_name(GROUP_POLICY)
            .policy_document(document.to_string())
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| exists(s)) => {}
            Err(e) => return Err(call_failed("CreatePolicy")(sdk_error(e))),
        }
        let root = arn(&format!("thinggroup/{FLEET_ROOT_GROUP}"));
        self.iot
            .attach_policy()
            .policy_name(GROUP_POLICY)
            .target(&root)
            .send()
            .await
            .map_err(|e| call_failed("AttachPolicy")(sdk_error(e)))?;
        events.push(self.events.api_call(
            "AttachPolicy",
            json!({"policyName": GROUP_POLICY, "target": root}),
            Value::Null,
            now_millis(),
        ));
        let role = format!("arn:aws:iam::{}:role/{ROLE_ALIAS}", self.events.account);
        match self
            .iot
            .create_role_alias()
            .role_alias(ROLE_ALIAS)
            .role_arn(&role)
            .credential_duration_seconds(3600)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| exists(s)) => {}
            Err(e) => return Err(call_failed("CreateRoleAlias")(sdk_error(e))),
        }
        events.push(self.events.api_call(
            "CreateRoleAlias",
            json!({"roleAlias": ROLE_ALIAS, "roleArn": role, "credentialDurationSeconds": 3600}),
            Value::Null,
            now_millis(),
        ));
        let body = json!({
            "Parameters": {"SerialNumber": {"Type": "String"},
                "AWS::IoT::Certificate::Id": {"Type": "String"}},
            "Resources": {
                "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                    "ThingName": {"Fn::Join": ["", ["wearable-", {"Ref": "SerialNumber"}]]},
                    "ThingGroups": [FLEET_WARD_GROUP]}},
                "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
                "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": FLEET_POLICY}}
            }
        });
        let provisioning_role =
            format!("arn:aws:iam::{}:role/iot-provisioning", self.events.account);
        match self
            .iot
            .create_provisioning_template()
            .template_name(PROVISIONING_TEMPLATE)
            .template_body(body.to_string())
            .enabled(true)
            .provisioning_role_arn(provisioning_role)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| exists(s)) => {}
            Err(e) => return Err(call_failed("CreateProvisioningTemplate")(sdk_error(e))),
        }
        events.push(self.events.api_call(
            "CreateProvisioningTemplate",
            json!({"templateName": PROVISIONING_TEMPLATE}),
            Value::Null,
            now_millis(),
        ));
        Ok(events)
    }

    /// RegisterCertificate (ACTIVE, against the CA), then the thing and the policy.
    async fn register(
        &self,
        ca: &FleetCa,
        device: &Device,
        thing: &str,
    ) -> Result<Vec<Value>, FleetError> {
        let at = self
            .register_certificate(ca, device, SdkStatus::Active)
            .await?;
        let arn = self.registry.certificate_arn(&device.id);
        let mut events = vec![self.events.api_call(
            "RegisterCertificate",
            json!({"status": "ACTIVE"}),
            json!({"certificateId": device.id.as_str(), "certificateArn": arn}),
            at,
        )];
        events.extend(self.thing_and_policy(device, thing).await?);
        Ok(events)
    }

    /// Just-in-time registration: the device's first connection registers its certificate
    /// PENDING_ACTIVATION (AWS IoT publishes the JITR event); the fleet's activation logic
    /// then creates its thing, attaches it and the policy, and activates it.
    async fn register_just_in_time(
        &self,
        ca: &FleetCa,
        device: &Device,
        thing: &str,
    ) -> Result<Vec<Value>, FleetError> {
        let at = self
            .register_certificate(ca, device, SdkStatus::PendingActivation)
            .await?;
        let mut events = vec![self
            .events
            .jitr_registered(device.id.as_str(), ca.id.as_str(), at)];
        events.extend(self.thing_and_policy(device, thing).await?);
        events.push(self.set_status(&device.id, SdkStatus::Active).await?);
        Ok(events)
    }

    /// Register `device` against `ca` with `status`; when it happened.
    async fn register_certificate(
        &self,
        ca: &FleetCa,
        device: &Device,
        status: SdkStatus,
    ) -> Result<EpochMillis, FleetError> {
        let at = now_millis();
        self.iot
            .register_certificate()
            .certificate_pem(&device.pem)
            .ca_certificate_pem(&ca.pem)
            .status(status)
            .send()
            .await
            .map_err(|e| call_failed("RegisterCertificate")(sdk_error(e)))?;
        Ok(at)
    }

    async fn thing_and_policy(
        &self,
        device: &Device,
        thing: &str,
    ) -> Result<Vec<Value>, FleetError> {
        let arn = self.registry.certificate_arn(&device.id);
        let attributes = json!({"model": "w2", "ward": "cardiology"});
        let created = self
            .iot
            .create_thing()
            .thing_name(thing)
            .attribute_payload(
                aws_sdk_iot::types::AttributePayload::builder()
                    .attributes("model", "w2")
                    .attributes("ward", "cardiology")
                    .build(),
            )
            .send()
            .await;
        let mut events = Vec::new();
        match created {
            Ok(_) => {
                events.push(
                    self.events
                        .thing_event("CREATED", thing, &attributes, now_millis()),
                )
            }
            // A second simulation with the same prefix re-uses the things.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
            Err(e) => return Err(call_failed("CreateThing")(sdk_error(e))),
        }
        self.iot
            .attach_thing_principal()
            .thing_name(thing)
            .principal(&arn)
            .send()
            .await
            .map_err(|e| call_failed("AttachThingPrincipal")(sdk_error(e)))?;
        events.push(self.events.api_call(
            "AttachThingPrincipal",
            json!({"thingName": thing, "principal": arn}),
            Value::Null,
            now_millis(),
        ));
        self.iot
            .attach_policy()
            .policy_name(FLEET_POLICY)
            .target(&arn)
            .send()
            .await
            .map_err(|e| call_failed("AttachPolicy")(sdk_error(e)))?;
        events.push(self.events.api_call(
            "AttachPolicy",
            json!({"policyName": FLEET_POLICY, "target": arn}),
            Value::Null,
            now_millis(),
        ));
        self.iot
            .add_thing_to_thing_group()
            .thing_group_name(FLEET_WARD_GROUP)
            .thing_name(thing)
            .send()
            .await
            .map_err(|e| call_failed("AddThingToThingGroup")(sdk_error(e)))?;
        events.push(self.events.api_call(
            "AddThingToThingGroup",
            json!({"thingGroupName": FLEET_WARD_GROUP, "thingName": thing}),
            Value::Null,
            now_millis(),
        ));
        Ok(events)
    }

    async fn set_status(&self, id: &CertificateId, status: SdkStatus) -> Result<Value, FleetError> {
        let at = now_millis();
        self.iot
            .update_certificate()
            .certificate_id(id.as_str())
            .new_status(status.clone())
            .send()
            .await
            .map_err(|e| call_failed("UpdateCertificate")(sdk_error(e)))?;
        Ok(self.events.api_call(
            "UpdateCertificate",
            json!({"certificateId": id.as_str(), "newStatus": status.as_str()}),
            Value::Null,
            at,
        ))
    }
}
