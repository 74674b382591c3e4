//! The fleet provisioner in primary: the CA, the policies, the ward tree, the role alias and
//! the enrolment template, then each device's certificate, thing and attachments, and
//! revocations — each call returning the events AWS would emit for it.

use aws_sdk_iot::error::ProvideErrorMetadata;
use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::iot::IotRegistry;
use dr_aws::AwsSession;
use dr_core::time::{now_millis, EpochMillis};
use dr_core::{CertificateId, Side, Topology};
use serde_json::{json, Value};

use super::error::{call_failed, FleetError};
use super::naming::{
    FLEET_POLICY, FLEET_ROOT_GROUP, FLEET_WARD_GROUP, GROUP_POLICY, PROVISIONING_ROLE,
    PROVISIONING_TEMPLATE, ROLE_ALIAS,
};
use crate::devices::{Device, FleetCa};
use crate::events::EventSource;

/// The fleet provisioner in primary: each call returns the events AWS emits for it.
pub(super) struct Provisioner {
    iot: aws_sdk_iot::Client,
    registry: IotRegistry,
    events: EventSource,
}

fn sdk_error<E: std::error::Error + 'static>(e: aws_sdk_iot::error::SdkError<E>) -> String {
    aws_sdk_iot::error::DisplayErrorContext(e).to_string()
}

impl Provisioner {
    pub(super) fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            iot: session.iot(Side::Primary),
            registry: IotRegistry::for_side(session, topology, Side::Primary),
            events: EventSource {
                account: topology.primary.account_id.to_string(),
                region: topology.primary.region.to_string(),
            },
        }
    }

    /// The roles DR's IoT assumes for the fleet, in both accounts: the role alias's
    /// (trusting the credentials provider) and the enrolment template's (trusting IoT). They
    /// are the application's own IAM, deployed to DR as to primary (readiness fails a role
    /// alias or template whose role DR's IAM lacks).
    pub(super) async fn ensure_iot_roles(&self, session: &AwsSession) -> Result<(), FleetError> {
        let trust = |service: &str| {
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
            .to_string()
        };
        let roles = [
            (ROLE_ALIAS, trust("credentials.iot.amazonaws.com")),
            (PROVISIONING_ROLE, trust("iot.amazonaws.com")),
        ];
        for side in [Side::Primary, Side::Dr] {
            for (name, trust) in &roles {
                match session
                    .iam(side)
                    .create_role()
                    .role_name(*name)
                    .assume_role_policy_document(trust)
                    .max_session_duration(3600)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_entity_already_exists_exception()) => {}
                    Err(e) => {
                        return Err(call_failed("CreateRole")(
                            aws_sdk_iam::error::DisplayErrorContext(e).to_string(),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The fleet CA in both regions, with auto-registration (JITR) on.
    pub(super) async fn register_ca(
        &self,
        session: &AwsSession,
        ca: &FleetCa,
    ) -> Result<(), FleetError> {
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

    pub(super) async fn ensure_policy(&self) -> Result<(), FleetError> {
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
    pub(super) async fn device_setup(&self) -> Result<Vec<Value>, FleetError> {
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
        let provisioning_role = format!(
            "arn:aws:iam::{}:role/{PROVISIONING_ROLE}",
            self.events.account
        );
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
    pub(super) async fn register(
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
    pub(super) async fn register_just_in_time(
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
        // The registry reports the same membership too (the primary stack turns its
        // membership events on): capture hears of it twice, as on AWS.
        events.push(
            self.events
                .membership_event("ADDED", FLEET_WARD_GROUP, thing, now_millis()),
        );
        Ok(events)
    }

    pub(super) async fn set_status(
        &self,
        id: &CertificateId,
        status: SdkStatus,
    ) -> Result<Value, FleetError> {
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
