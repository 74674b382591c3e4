// The primary account and region: where the fleet lives and where replication starts.
//
// Holds: the capture Lambda and everything that feeds it (IoT topic rules for JITR and
// registry events, registry events switched on, an EventBridge rule on CloudTrail aws.iot
// API calls, the trail itself), the roles the DR functions assume here, the IoT domain
// configuration for the custom domain, and a failure queue and alarms for capture.

import { Duration, RemovalPolicy, Stack, type StackProps, Annotations } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import type { Contract } from './config';
import { configLayer, RustFunction } from './lambda';
import { foreignKeyArn, regionalSnapshotKeyArn } from './keys';
import { admitAlarms } from './topics';
import { createOperatorRole, createSideRoles, operatorRoleSides } from './roles';
import type { Settings } from './settings';

/**
 * The CloudTrail API calls capture handles: exactly `parse_cloudtrail`'s list in
 * crates/core/src/replication/capture.rs. Anything else would reach capture only to be
 * refused as unsupported (and retried, and dead-lettered).
 */
export const CAPTURED_API_CALLS = [
  'RegisterCertificate',
  'RegisterCertificateWithoutCA',
  'CreateKeysAndCertificate',
  'CreateCertificateFromCsr',
  'UpdateCertificate',
  'DeleteCertificate',
  'TransferCertificate',
  'CancelCertificateTransfer',
  'RejectCertificateTransfer',
  'AcceptCertificateTransfer',
  'CreateThingType',
  'UpdateThingType',
  'DeprecateThingType',
  'DeleteThingType',
  'RegisterCACertificate',
  'UpdateCACertificate',
  'DeleteCACertificate',
  'AttachPolicy',
  'DetachPolicy',
  'AttachPrincipalPolicy',
  'DetachPrincipalPolicy',
  'AttachThingPrincipal',
  'DetachThingPrincipal',
  'CreatePolicyVersion',
  'SetDefaultPolicyVersion',
  'CreateThingGroup',
  'UpdateThingGroup',
  'DeleteThingGroup',
  'CreateDynamicThingGroup',
  'UpdateDynamicThingGroup',
  'DeleteDynamicThingGroup',
  'AddThingToThingGroup',
  'RemoveThingFromThingGroup',
  'UpdateThingGroupsForThing',
  'CreateRoleAlias',
  'UpdateRoleAlias',
  'DeleteRoleAlias',
  'CreateProvisioningTemplate',
  'UpdateProvisioningTemplate',
  'DeleteProvisioningTemplate',
  'CreateProvisioningTemplateVersion',
  'DeleteProvisioningTemplateVersion',
];

/** IoT topics capture listens on (capture.rs: JITR, registry thing and membership events). */
export const JITR_TOPIC = '$aws/events/certificates/registered/#';
export const THING_EVENTS_TOPIC = '$aws/events/thing/+/+';
/**
 * A thing added to or removed from a group: the only trace of the memberships fleet
 * provisioning's RegisterThing sets (a device-side call CloudTrail does not record).
 */
export const MEMBERSHIP_EVENTS_TOPIC = '$aws/events/thingGroupMembership/thingGroup/+/thing/+/+';
/**
 * Shadow topics capture listens on (capture.rs `parse_shadow`): each update's documents and
 * each deletion, classic and named. `topic()` tells capture which shadow it was.
 */
export const SHADOW_TOPICS: Array<[string, string]> = [
  ['ShadowDocumentsRule', '$aws/things/+/shadow/update/documents'],
  ['NamedShadowDocumentsRule', '$aws/things/+/shadow/name/+/update/documents'],
  ['ShadowDeletedRule', '$aws/things/+/shadow/delete/accepted'],
  ['NamedShadowDeletedRule', '$aws/things/+/shadow/name/+/delete/accepted'],
];

export interface IotDrStackProps extends StackProps {
  /** The deployment contract (`drctl config export --json`). */
  readonly contract: Contract;
  readonly settings: Settings;
}

export class PrimaryStack extends Stack {
  readonly capture: RustFunction;
  readonly sideRoles: Record<string, iam.Role>;

  constructor(scope: Construct, id: string, props: IotDrStackProps) {
    super(scope, id, {
      ...props,
      env: { account: props.contract.topology.primary.account_id, region: props.contract.topology.primary.region },
      description: 'IoT DR control plane, primary account and region: capture, cross-account roles, IoT custom domain',
    });
    const { contract: c, settings } = props;
    const t = c.topology;
    const architecture = settings.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    // ---- Operators (primary side): capture's failures are primary's to report. ----
    const operatorsKey = new kms.Key(this, 'OperatorsKey', {
      alias: c.names.operators_key_alias,
      description: 'Encrypts the IoT DR operators topic and capture failure queue in primary',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Alarms publish to the encrypted topic; EventBridge dead-letters into the encrypted queue.
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      operatorsKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `${service.split('.')[0]}UsesTheKey`,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': t.primary.account_id } },
        }),
      );
    }
    const operatorTopic = new sns.Topic(this, 'OperatorTopic', {
      topicName: t.failover.operator_topic,
      displayName: 'IoT DR operators (primary)',
      masterKey: operatorsKey,
      enforceSSL: true,
    });
    admitAlarms(operatorTopic, t.primary.account_id, t.primary.region);
    if (settings.operatorEmail) operatorTopic.addSubscription(new subs.EmailSubscription(settings.operatorEmail));
    const alarmAction = new cwActions.SnsAction(operatorTopic);

    // What capture could not publish after Lambda's retries, and what EventBridge or IoT
    // could not deliver to it: kept 14 days; the reconciler repairs the registry meanwhile.
    const captureFailures = new sqs.Queue(this, 'CaptureFailures', {
      queueName: 'iot-dr-capture-failures',
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: operatorsKey,
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      // Events nobody replicated yet: a stack deletion must not take them.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- The capture Lambda ----
    const layer = configLayer(this, c, architecture);
    this.capture = new RustFunction(this, 'CertCapture', {
      fn: 'cert-capture',
      contract: c,
      settings,
      layer,
      timeout: Duration.seconds(60),
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SqsDestination(captureFailures),
    });
    const captureFn = this.capture.function;

    // Topic rules: JITR registrations and registry thing events, straight to capture.
    const ruleErrorsRole = new iam.Role(this, 'TopicRuleErrorRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': t.primary.account_id } },
      }),
      description: 'Lets the IoT DR topic rules keep what they could not deliver to capture',
    });
    captureFailures.grantSendMessages(ruleErrorsRole);
    for (const [id, description, sql] of [
      ['JitrRule', 'Just-in-time registrations to the IoT DR capture Lambda', `SELECT * FROM '${JITR_TOPIC}'`],
      ['ThingEventsRule', 'Registry thing events to the IoT DR capture Lambda', `SELECT * FROM '${THING_EVENTS_TOPIC}'`],
      ['MembershipEventsRule', 'Registry thing-group membership events to the IoT DR capture Lambda', `SELECT * FROM '${MEMBERSHIP_EVENTS_TOPIC}'`],
      ...SHADOW_TOPICS.map(([id, topic]) => [id, 'Device shadow documents and deletions to the IoT DR capture Lambda', `SELECT *, topic() AS topic FROM '${topic}'`]),
    ]) {
      const rule = new iot.CfnTopicRule(this, id, {
        topicRulePayload: {
          description,
          sql,
          awsIotSqlVersion: '2016-03-23',
          ruleDisabled: false,
          actions: [{ lambda: { functionArn: captureFn.functionArn } }],
          errorAction: { sqs: { queueUrl: captureFailures.queueUrl, roleArn: ruleErrorsRole.roleArn, useBase64: false } },
        },
      });
      captureFn.addPermission(`${id}Invoke`, {
        principal: new iam.ServicePrincipal('iot.amazonaws.com'),
        sourceArn: rule.attrArn,
        sourceAccount: t.primary.account_id,
      });
    }

    // Registry events are off by default and have no CloudFormation resource. Turned on at
    // create and update, never off at delete: other consumers may rely on them.
    const thingEvents = {
      service: 'Iot',
      action: 'updateEventConfigurations',
      parameters: { eventConfigurations: { THING: { Enabled: true }, THING_GROUP_MEMBERSHIP: { Enabled: true } } },
      physicalResourceId: cr.PhysicalResourceId.of(`iot-registry-thing-events-${t.primary.account_id}-${t.primary.region}`),
    };
    new cr.AwsCustomResource(this, 'RegistryThingEvents', {
      onCreate: thingEvents,
      onUpdate: thingEvents,
      installLatestAwsSdk: false,
      // iot:UpdateEventConfigurations is account-level: AWS has no resource to scope it to.
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['iot:UpdateEventConfigurations'], resources: ['*'] }),
      ]),
      timeout: Duration.minutes(2),
    });

    // CloudTrail API calls on aws.iot, via EventBridge (needs a trail, below).
    const apiCalls = new events.Rule(this, 'IotApiCallsRule', {
      description: 'CloudTrail aws.iot certificate, principal and policy-version calls to the IoT DR capture Lambda',
      eventPattern: {
        source: ['aws.iot'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['iot.amazonaws.com'], eventName: CAPTURED_API_CALLS },
      },
    });
    apiCalls.addTarget(
      new targets.LambdaFunction(captureFn, {
        deadLetterQueue: captureFailures,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
      }),
    );

    // EventBridge only sees "AWS API Call via CloudTrail" events that a trail records. One
    // trail of write management events in this region is enough (IoT is regional). With
    // cloudTrail=existing the stack relies on an organization (or account) trail that
    // already records management events here, and creates none (a second copy of
    // management events is billed).
    if (settings.cloudTrail === 'create') {
      const trailKey = new kms.Key(this, 'TrailKey', {
        alias: 'alias/iot-dr-trail',
        description: 'Encrypts the IoT DR CloudTrail logs',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // CloudTrail encrypts log files with it, for this trail only.
      const trailName = 'iot-dr-management-events';
      const trailArn = `arn:aws:cloudtrail:${t.primary.region}:${t.primary.account_id}:trail/${trailName}`;
      trailKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudTrailEncryptsLogs',
          principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
          actions: ['kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'aws:SourceArn': trailArn },
            StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:aws:cloudtrail:*:${t.primary.account_id}:trail/*` },
          },
        }),
      );
      trailKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudTrailDescribesKey',
          principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
          actions: ['kms:DescribeKey'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceArn': trailArn } },
        }),
      );
      const accessLogs = new s3.Bucket(this, 'TrailAccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED, // server access logs cannot be written to a KMS bucket
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ expiration: Duration.days(400) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      const trailBucket = new s3.Bucket(this, 'TrailBucket', {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: trailKey,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: 'trail-bucket/',
        lifecycleRules: [{ expiration: Duration.days(400), noncurrentVersionExpiration: Duration.days(30) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      new cloudtrail.Trail(this, 'IotApiTrail', {
        trailName,
        bucket: trailBucket,
        encryptionKey: trailKey,
        isMultiRegionTrail: false,
        includeGlobalServiceEvents: false,
        enableFileValidation: true,
        managementEvents: cloudtrail.ReadWriteType.WRITE_ONLY,
      });
    }

    // ---- Roles the DR functions (and capture) assume here ----
    const refs = {
      replicationKeyArn: foreignKeyArn(this, settings.replicationKeyArn, 'replicationKeyArn', 'IotDr-Dr', t.dr.account_id, t.dr.region),
      regionalSnapshotKeyArn: regionalSnapshotKeyArn(this, c, settings),
    };
    this.sideRoles = createSideRoles(this, c, 'primary', { 'cert-capture': this.capture.executionRole }, refs);
    const operatorSides = operatorRoleSides(t, 'primary');
    if (settings.operatorPrincipal && operatorSides.length > 0) createOperatorRole(this, c, operatorSides, settings.operatorPrincipal, refs);

    // ---- The custom domain devices connect to, served by IoT Core here ----
    if (settings.primaryCertificateArn) {
      new iot.CfnDomainConfiguration(this, 'DomainConfiguration', {
        domainConfigurationName: c.names.domain_configuration_name,
        domainName: t.dns.record,
        serverCertificateArns: [settings.primaryCertificateArn],
        serviceType: 'DATA',
        domainConfigurationStatus: 'ENABLED',
      });
    } else {
      Annotations.of(this).addWarningV2(
        'iot-dr:no-domain-configuration',
        `no IoT domain configuration for ${t.dns.record}: pass -c primaryCertificateArn=<ACM certificate in ${t.primary.region}>`,
      );
    }

    // ---- Alarms on capture ----
    new cloudwatch.Alarm(this, 'CaptureFailuresAlarm', {
      alarmName: 'iot-dr-capture-failures',
      alarmDescription: 'Events capture could not publish to DR (see the iot-dr-capture-failures queue); the reconciler repairs, but find the cause',
      metric: captureFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
    new cloudwatch.Alarm(this, 'CaptureErrorsAlarm', {
      alarmName: 'iot-dr-cert-capture-errors',
      alarmDescription: 'cert-capture invocations failed (Lambda retries them; persistent errors end in the failure queue)',
      metric: captureFn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(alarmAction);
  }
}
