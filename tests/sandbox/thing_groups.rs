//! Thing groups through the real capture and replicator binaries: a device whose only
//! permission comes from its thing group's parent connects to DR's endpoint stand-in once
//! the group tree, the group policy and the membership have replicated, and is refused again
//! when primary takes it out of the group.

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::iot::IotRegistry;
use dr_core::config::ProbeConfig;
use dr_core::replication::{CertificateRegistry, ThingGroupRegistry};
use dr_core::{Side, ThingGroupName};
use dr_sandbox::devices::{Canary, FleetCa};
use dr_sandbox::events::EventSource;
use dr_sandbox::fleet::ReplicationWiring;
use dr_sandbox::iot_endpoint::{DeviceAuth, LocalIotEndpoint, SERVER_NAME};
use serde_json::{json, Value};

use crate::e2e::{lambda_env, lambda_paths};
use crate::helpers::{admin, unique};
use crate::pipeline::Pipeline;

/// The capture and replicator binaries as AWS wires them, and the events AWS would hand
/// capture; every answer checked.
pub(crate) struct Wiring {
    binaries: ReplicationWiring,
    events: EventSource,
}

impl Wiring {
    pub(crate) async fn start(p: &Pipeline) -> Self {
        let binaries =
            ReplicationWiring::start(&lambda_paths(), &lambda_env(p), &p.session, &p.topology)
                .await
                .unwrap();
        Self {
            binaries,
            events: EventSource {
                account: p.topology.primary.account_id.to_string(),
                region: p.topology.primary.region.to_string(),
            },
        }
    }

    /// EventBridge hands capture the CloudTrail event of a successful call.
    pub(crate) async fn called(&self, name: &str, request: Value, response: Value) -> Vec<String> {
        let event = self
            .events
            .api_call(name, request, response, dr_core::time::now_millis());
        self.capture_raw(&event).await
    }

    /// A topic rule hands capture `event` as it is; the subject keys capture published.
    pub(crate) async fn capture_raw(&self, event: &Value) -> Vec<String> {
        self.binaries.publish(event).await.unwrap()
    }

    /// The IoT rule on `$aws/events/thing/+/+` hands capture a registry event.
    pub(crate) async fn registry(&self, operation: &str, thing: &str) -> Vec<String> {
        let event =
            self.events
                .thing_event(operation, thing, &json!({}), dr_core::time::now_millis());
        self.capture_raw(&event).await
    }

    /// The registry's membership event for `thing` and `group` (`ADDED` or `REMOVED`), as the
    /// topic rule hands it to capture: what capture published.
    pub(crate) async fn membership(
        &self,
        operation: &str,
        group: &str,
        thing: &str,
    ) -> Vec<String> {
        let event =
            self.events
                .membership_event(operation, group, thing, dr_core::time::now_millis());
        self.capture_raw(&event).await
    }

    /// Primary creates the group (under `parent`), and capture hears of it: what it published.
    pub(crate) async fn create_group(
        &self,
        iot: &aws_sdk_iot::Client,
        name: &str,
        parent: Option<&str>,
    ) -> Vec<String> {
        iot.create_thing_group()
            .thing_group_name(name)
            .set_parent_group_name(parent.map(str::to_owned))
            .send()
            .await
            .unwrap();
        let mut request = json!({"thingGroupName": name});
        if let Some(parent) = parent {
            request["parentGroupName"] = parent.into();
        }
        self.called("CreateThingGroup", request, Value::Null).await
    }

    /// Primary adds the thing to the group, and capture hears of it: what it published.
    pub(crate) async fn add_member(
        &self,
        iot: &aws_sdk_iot::Client,
        group: &str,
        thing: &str,
    ) -> Vec<String> {
        iot.add_thing_to_thing_group()
            .thing_group_name(group)
            .thing_name(thing)
            .send()
            .await
            .unwrap();
        self.called(
            "AddThingToThingGroup",
            json!({"thingGroupName": group, "thingName": thing}),
            Value::Null,
        )
        .await
    }

    /// The event source mapping, until `done` or 30 polls.
    pub(crate) async fn deliver_until(&self, mut done: impl AsyncFnMut() -> bool) {
        for _ in 0..30 {
            self.binaries.deliver().await.unwrap();
            if done().await {
                return;
            }
        }
        panic!("DR did not converge within 30 polls");
    }
}

/// DR's endpoint stand-in, authorizing as AWS IoT does with DR's registry, and one
/// device's certificate to connect to it with.
pub(crate) struct DrEndpoint {
    endpoint: LocalIotEndpoint,
    topology: dr_core::Topology,
    session: dr_aws::AwsSession,
    cert_file: std::path::PathBuf,
    key_file: std::path::PathBuf,
    _work: tempfile::TempDir,
}

impl DrEndpoint {
    pub(crate) async fn start(p: &Pipeline, ca: &FleetCa, device: &Canary) -> Self {
        let work = tempfile::tempdir().unwrap();
        let session = admin(&p.topology).await;
        let endpoint = LocalIotEndpoint::start(
            work.path(),
            0,
            Some(DeviceAuth {
                device_ca_pem: ca.pem.clone(),
                registry: IotRegistry::for_side(&session, &p.topology, Side::Dr),
                arn_prefix: format!(
                    "arn:aws:iot:{}:{}",
                    p.topology.dr.region, p.topology.dr.account_id
                ),
            }),
        )
        .await
        .unwrap();
        let (cert_file, key_file) = (work.path().join("cert.pem"), work.path().join("key.pem"));
        std::fs::write(&cert_file, &device.device.pem).unwrap();
        std::fs::write(&key_file, &device.key_pem).unwrap();
        Self {
            endpoint,
            topology: p.topology.clone(),
            session,
            cert_file,
            key_file,
            _work: work,
        }
    }

    /// The drill canary's MQTT connect with `client_id`: healthy when DR accepted it.
    pub(crate) async fn connect(&self, client_id: &str) -> dr_core::failover::ProbeOutcome {
        let mut topology = self.topology.clone();
        topology.drill.canary = Some(ProbeConfig::Mqtt {
            host: "127.0.0.1".to_owned(),
            port: self.endpoint.port,
            server_name: Some(SERVER_NAME.to_owned()),
            alpn: Some("x-amzn-mqtt-ca".to_owned()),
            ca_file: Some(self.endpoint.ca_file.clone()),
            client_cert_file: self.cert_file.clone(),
            client_key_file: self.key_file.clone(),
            client_id: client_id.to_owned(),
            timeout_ms: 5_000,
        });
        dr_aws::probes::Probe::drill_canary(&topology, &self.session)
            .unwrap()
            .unwrap()
            .check()
            .await
    }
}

#[tokio::test]
async fn a_device_whose_only_policy_comes_from_its_thing_group_connects_in_dr() {
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let iot = p.session.iot(Side::Primary);
    let (hospital, ward, policy) = (unique("hospital"), unique("ward"), unique("ward-connect"));
    let group_arn = |name: &str| p.primary.thing_group_arn(&name.parse().unwrap());

    // Primary: hospital > ward; the connect policy on the hospital (inherited by the ward),
    // a wearable in the ward whose certificate has no policy of its own.
    let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "iot:Connect",
        "Resource": format!("arn:aws:iot:{}:{}:client/${{iot:Connection.Thing.ThingName}}",
            p.topology.primary.region, p.topology.primary.account_id)}]});
    iot.create_policy()
        .policy_name(&policy)
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        wiring.create_group(&iot, &hospital, None).await,
        vec![format!("group#{hospital}")]
    );
    wiring.create_group(&iot, &ward, Some(&hospital)).await;
    iot.attach_policy()
        .policy_name(&policy)
        .target(group_arn(&hospital))
        .send()
        .await
        .unwrap();
    assert_eq!(
        wiring
            .called(
                "AttachPolicy",
                json!({"policyName": policy, "target": group_arn(&hospital)}),
                Value::Null,
            )
            .await,
        vec![format!("group#{hospital}")],
        "a policy attached to a group triggers the group"
    );

    let ca = FleetCa::new(&unique("ward-ca"));
    let thing = unique("wearable");
    let device = ca.sign_canary(&thing);
    iot.register_certificate_without_ca()
        .certificate_pem(&device.device.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    iot.create_thing().thing_name(&thing).send().await.unwrap();
    let certificate_arn = p.primary.certificate_arn(&device.device.id);
    iot.attach_thing_principal()
        .thing_name(&thing)
        .principal(&certificate_arn)
        .send()
        .await
        .unwrap();
    wiring
        .called(
            "AttachThingPrincipal",
            json!({"thingName": thing, "principal": certificate_arn}),
            Value::Null,
        )
        .await;
    assert_eq!(
        wiring.add_member(&iot, &ward, &thing).await,
        vec![format!("thing#{thing}")]
    );

    let (hospital_name, ward_name): (ThingGroupName, ThingGroupName) =
        (hospital.parse().unwrap(), ward.parse().unwrap());
    let thing_name = thing.parse().unwrap();
    wiring
        .deliver_until(async || {
            let members = p.dr.thing_group_names(&thing_name).await.unwrap();
            let policies = p.dr.thing_group_policy_names(&hospital_name).await.unwrap();
            members.contains(&ward_name) && !policies.is_empty()
        })
        .await;
    let in_dr = p.dr.thing_group(&ward_name).await.unwrap().unwrap();
    assert_eq!(in_dr.ancestors, vec![hospital_name.clone()], "the tree");
    let dr_document =
        p.dr.thing_group_policies(&hospital_name)
            .await
            .unwrap()
            .remove(0)
            .document;
    assert!(
        dr_document.contains(&format!(
            "arn:aws:iot:{}:{}:client/",
            p.topology.dr.region, p.topology.dr.account_id
        )),
        "the group policy is rewritten for DR: {dr_document}"
    );
    assert!(p
        .dr
        .certificate_policy_names(&device.device.id)
        .await
        .unwrap()
        .is_empty());

    // DR's endpoint stand-in, authorizing as AWS IoT does.
    let dr_endpoint = DrEndpoint::start(&p, &ca, &device).await;
    let allowed = dr_endpoint.connect(&thing).await;
    assert!(allowed.healthy, "{allowed:?}");
    // Group policies apply only when the client id is the thing's name.
    let other = dr_endpoint.connect("someone-else").await;
    assert!(!other.healthy, "{other:?}");

    // Primary takes the wearable out of the ward: DR follows, and the device is refused.
    iot.remove_thing_from_thing_group()
        .thing_group_name(&ward)
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    wiring
        .called(
            "RemoveThingFromThingGroup",
            json!({"thingGroupName": ward, "thingName": thing}),
            Value::Null,
        )
        .await;
    wiring
        .deliver_until(async || {
            p.dr.thing_group_names(&thing_name)
                .await
                .unwrap()
                .is_empty()
        })
        .await;
    let refused = dr_endpoint.connect(&thing).await;
    assert!(!refused.healthy, "{refused:?}");

    // And deleting the ward in primary deletes it in DR.
    iot.delete_thing_group()
        .thing_group_name(&ward)
        .send()
        .await
        .unwrap();
    assert_eq!(
        wiring
            .called(
                "DeleteThingGroup",
                json!({"thingGroupName": ward}),
                Value::Null
            )
            .await,
        vec![format!("group#{ward}")]
    );
    wiring
        .deliver_until(async || p.dr.thing_group(&ward_name).await.unwrap().is_none())
        .await;
    assert!(p.dead_letters().await.is_empty(), "nothing dead-lettered");
}

/// The launcher's patch bites: moto alone lets a thing into two wards of one hospital and
/// into any number of groups; AWS refuses both ("you can't add a thing to more than one group
/// in the same hierarchy", ten groups at most).
#[tokio::test]
async fn the_sandbox_refuses_a_thing_a_second_group_of_one_hierarchy_and_an_eleventh_group() {
    let p = Pipeline::new().await;
    let iot = p.session.iot(Side::Primary);
    let (hospital, ward_7, ward_8) = (unique("hospital"), unique("ward-7"), unique("ward-8"));
    iot.create_thing_group()
        .thing_group_name(&hospital)
        .send()
        .await
        .unwrap();
    for ward in [&ward_7, &ward_8] {
        iot.create_thing_group()
            .thing_group_name(ward)
            .parent_group_name(&hospital)
            .send()
            .await
            .unwrap();
    }
    let thing = unique("wearable");
    iot.create_thing().thing_name(&thing).send().await.unwrap();
    let add = |group: &str| {
        iot.add_thing_to_thing_group()
            .thing_group_name(group)
            .thing_name(&thing)
            .send()
    };
    add(&ward_7).await.unwrap();
    add(&ward_7).await.expect("adding again is a no-op");
    let sibling = add(&ward_8).await.unwrap_err();
    assert_eq!(
        sibling.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidRequestException"),
        "{sibling:?}"
    );
    let parent = add(&hospital).await.unwrap_err();
    assert!(parent.as_service_error().is_some(), "{parent:?}");

    // A move in one UpdateThingGroupsForThing call is legal.
    iot.update_thing_groups_for_thing()
        .thing_name(&thing)
        .thing_groups_to_remove(&ward_7)
        .thing_groups_to_add(&ward_8)
        .send()
        .await
        .unwrap();
    let groups = iot
        .list_thing_groups_for_thing()
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = groups
        .thing_groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    assert_eq!(names, [ward_8.as_str()]);

    // Nine more hierarchies make ten groups; an eleventh is refused.
    for n in 0..10 {
        let root = unique(&format!("programme-{n}"));
        iot.create_thing_group()
            .thing_group_name(&root)
            .send()
            .await
            .unwrap();
        let added = add(&root).await;
        if n < 9 {
            added.unwrap();
        } else {
            let eleventh = added.unwrap_err();
            assert_eq!(
                eleventh.as_service_error().and_then(|e| e.meta().code()),
                Some("InvalidRequestException"),
                "{eleventh:?}"
            );
        }
    }
}

/// A ward transfer between sibling wards (AWS refuses the thing both at once) replicates
/// through the real binaries in one delivery each, nothing failed or dead-lettered.
#[tokio::test]
async fn a_ward_transfer_between_sibling_wards_reaches_dr_with_nothing_dead_lettered() {
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let iot = p.session.iot(Side::Primary);
    let (hospital, ward_7, ward_8) = (unique("hospital"), unique("ward-7"), unique("ward-8"));
    wiring.create_group(&iot, &hospital, None).await;
    for ward in [&ward_7, &ward_8] {
        wiring.create_group(&iot, ward, Some(&hospital)).await;
    }
    let thing = unique("wearable");
    iot.create_thing().thing_name(&thing).send().await.unwrap();
    wiring.add_member(&iot, &ward_7, &thing).await;
    let thing_name: dr_core::ThingName = thing.parse().unwrap();
    let in_dr = async || {
        let mut names: Vec<String> =
            p.dr.thing_group_names(&thing_name)
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.to_string())
                .collect();
        names.sort_unstable();
        names
    };
    wiring
        .deliver_until(async || in_dr().await == std::slice::from_ref(&ward_7))
        .await;

    // The transfer, as primary must do it: out of ward 7, into ward 8.
    iot.remove_thing_from_thing_group()
        .thing_group_name(&ward_7)
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    iot.add_thing_to_thing_group()
        .thing_group_name(&ward_8)
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    // Capture runs for each call, in either order (the rule invokes it asynchronously).
    wiring
        .called(
            "AddThingToThingGroup",
            json!({"thingGroupName": ward_8, "thingName": thing}),
            Value::Null,
        )
        .await;
    wiring
        .called(
            "RemoveThingFromThingGroup",
            json!({"thingGroupName": ward_7, "thingName": thing}),
            Value::Null,
        )
        .await;
    let delivered = wiring.binaries.drain().await.unwrap();
    assert_eq!(delivered.failed, 0, "{delivered:?}");
    assert_eq!(in_dr().await, std::slice::from_ref(&ward_8));
    assert!(p.dead_letters().await.is_empty(), "nothing dead-lettered");
}

/// Fleet provisioning's RegisterThing adds the new thing to its template's groups by a
/// device-side call CloudTrail does not record, often after the thing-created event was
/// captured: the registry's membership event brings the membership to DR without waiting for
/// the reconciler.
#[tokio::test]
async fn a_membership_only_the_registry_s_event_reports_reaches_dr() {
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let iot = p.session.iot(Side::Primary);
    let ward = unique("provisioned-ward");
    wiring.create_group(&iot, &ward, None).await;
    let thing = unique("provisioned");
    iot.create_thing().thing_name(&thing).send().await.unwrap();
    wiring.registry("CREATED", &thing).await;
    let thing_name: dr_core::ThingName = thing.parse().unwrap();
    wiring
        .deliver_until(async || p.dr.thing(&thing_name).await.unwrap().is_some())
        .await;
    assert!(p
        .dr
        .thing_group_names(&thing_name)
        .await
        .unwrap()
        .is_empty());

    // The membership, with no CloudTrail event for capture: only the registry's.
    iot.add_thing_to_thing_group()
        .thing_group_name(&ward)
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    assert_eq!(
        wiring.membership("ADDED", &ward, &thing).await,
        vec![format!("thing#{thing}")]
    );
    let ward_name: ThingGroupName = ward.parse().unwrap();
    wiring
        .deliver_until(async || {
            p.dr.thing_group_names(&thing_name)
                .await
                .unwrap()
                .contains(&ward_name)
        })
        .await;
    assert!(p.dead_letters().await.is_empty(), "nothing dead-lettered");
}
