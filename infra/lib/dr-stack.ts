// The DR account and region: everything that must work while primary is down.
//
// Holds the replication path primary publishes into (SNS FIFO topic → SQS FIFO queue with
// DLQ → replicator), the ledger and failover-state tables, the scheduled reconciler,
// snapshot controller and health checker, the DNS failover (hosted zone, alarm, health
// check, records), the IoT domain configuration, DR's snapshot key, and the operators'
// topic, alarms and dashboard. Sandbox twin: crates/sandbox/src/provision/*.rs.

import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Contract, ProbeConfig, Topology } from './config';
import { outputKeyArn, regionalSnapshotKeyArn } from './keys';
import { configLayer, RustFunction } from './lambda';
import * as names from './names';
import { admitAlarms } from './topics';
import type { IotDrStackProps } from './primary-stack';
import { createOperatorRole, createSideRoles, crossAccountPrincipal, operatorRoleSides } from './roles';

/** Function timeouts and schedules, with why. */
export const TIMING = {
  /** AWS recommends a queue visibility of at least six times the consumer's timeout. */
  replicatorTimeout: Duration.seconds(60),
  queueVisibility: Duration.seconds(360),
  /** Longest Lambda timeout: a large fleet's pass is checkpointed and continues next time. */
  reconcilerTimeout: Duration.minutes(15),
  snapshotControllerTimeout: Duration.minutes(5),
} as const;

/** The health checker's timeout: its rounds plus room for a runbook step (at least 70 s). */
export function healthCheckerTimeout(t: Topology): Duration {
  return Duration.seconds(Math.max(90, t.failover.rounds_per_invocation * t.failover.round_interval_seconds + 30));
}

/** How often the snapshot controller ticks: level-triggered, so more often than any interval. */
export function snapshotScheduleMinutes(c: Contract): number {
  const intervals = [c.topology.snapshots.interval_minutes, ...c.snapshot_policies.map(intervalMinutes)];
  return Math.max(5, Math.min(15, ...intervals));
}

/** A database's snapshot interval in minutes (its policy has it in milliseconds). */
export const intervalMinutes = (policy: Contract['snapshot_policies'][number]): number => policy.interval_ms / 60_000;

/** Files a probe reads at run time: not bundled, the health checker's own filesystem. */
export const probeFiles = (p: ProbeConfig): string[] =>
  [p.kind === 'alarm' ? undefined : p.ca_file, ...(p.kind === 'mqtt' ? [p.client_cert_file, p.client_key_file] : [])].filter(
    (f): f is string => f !== undefined,
  );

export class DrStack extends Stack {
  readonly functions: Record<string, RustFunction> = {};
  readonly queue: sqs.Queue;
  readonly shadowQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly topic: sns.Topic;
  readonly shadowTopic: sns.Topic;

  constructor(scope: Construct, id: string, props: IotDrStackProps) {
    const c = props.contract;
    const t = c.topology;
    super(scope, id, {
      ...props,
      env: { account: t.dr.account_id, region: t.dr.region },
      description: 'IoT DR control plane, DR account and region: replication, reconcile, snapshots, health and failover',
    });
    const { settings } = props;
    const architecture = settings.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    // ---- Keys ----
    const replicationKey = new kms.Key(this, 'ReplicationKey', {
      alias: c.names.replication_key_alias,
      description: 'Encrypts the DR certificate-replication topic and queues at rest',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // SNS encrypts into the queues (SqsSubscription adds that statement); primary's capture
    // role publishes to the encrypted topic, through SNS only.
    replicationKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'PrimaryCapturePublishesToTheEncryptedTopic',
        principals: [crossAccountPrincipal(t.primary.account_id, [names.captureRoleArn(c)])],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:ViaService': `sns.${t.dr.region}.amazonaws.com` } },
      }),
    );
    const operatorsKey = new kms.Key(this, 'OperatorsKey', {
      alias: c.names.operators_key_alias,
      description: "Encrypts the IoT DR operators' notification topic at rest",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    operatorsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': t.dr.account_id } },
      }),
    );
    let drSnapshotKey: kms.Key | undefined;
    if (c.names.dr_snapshot_key_alias !== null) {
      drSnapshotKey = new kms.Key(this, 'DrSnapshotKey', {
        alias: c.names.dr_snapshot_key_alias,
        description: "Encrypts DR's own copies of the fleet database snapshots (customer-managed: restorable in DR only)",
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // Failback carries DR's database writes back (carry_back.rs): DR shares a final
      // snapshot under this key with primary's account, whose operators' role copies it in
      // the DR region. Only that role, only through RDS (the grant is for RDS's copy).
      const primaryOperators = crossAccountPrincipal(t.primary.account_id, [t.primary.role_arn]);
      drSnapshotKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'PrimaryCopiesDrWritesBack',
          principals: [primaryOperators],
          actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:ReEncryptFrom'],
          resources: ['*'],
          conditions: { StringEquals: { 'kms:ViaService': `rds.${t.dr.region}.amazonaws.com` } },
        }),
      );
      drSnapshotKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'PrimaryGrantsRdsTheKeyForCarryBack',
          principals: [primaryOperators],
          actions: ['kms:CreateGrant'],
          resources: ['*'],
          conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
      );
    }

    // ---- Replication path (flow A) ----
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      queueName: c.names.dead_letter_queue_name,
      fifo: true,
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: replicationKey,
      // 14 days: the longest SQS keeps anything, time for operators to replay the DLQ.
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      // Dead letters are the only copy of what could not be applied: a stack deletion must
      // not take them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Two lanes, each a FIFO topic and queue of its own (crates/core message.rs `Lane`):
    // shadows change whenever a device reports and can publish at the FIFO limit; on their
    // own lane they never queue a revocation, or any registry change, behind them.
    const lane = (queueId: string, queueName: string, topicId: string, topicName: string, displayName: string) => {
      const queue = new sqs.Queue(this, queueId, {
        queueName,
        fifo: true,
        contentBasedDeduplication: false,
        encryption: sqs.QueueEncryption.KMS,
        encryptionMasterKey: replicationKey,
        retentionPeriod: Duration.days(14),
        visibilityTimeout: TIMING.queueVisibility,
        deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: c.names.max_receive_count },
        enforceSSL: true,
        // Messages not yet applied are changes DR does not have yet.
        removalPolicy: RemovalPolicy.RETAIN,
      });
      const topic = new sns.Topic(this, topicId, {
        topicName,
        fifo: true,
        contentBasedDeduplication: false,
        masterKey: replicationKey,
        displayName,
      });
      return { queue, topic };
    };
    const registry = lane('ReplicationQueue', c.names.replication_queue_name, 'ReplicationTopic', c.names.replication_topic_name, 'IoT DR certificate replication');
    const shadows = lane('ShadowReplicationQueue', c.names.shadow_queue_name, 'ShadowReplicationTopic', c.names.shadow_topic_name, 'IoT DR shadow replication');
    this.queue = registry.queue;
    this.topic = registry.topic;
    this.shadowQueue = shadows.queue;
    this.shadowTopic = shadows.topic;
    // The one publisher: primary's capture role. Not the DR account, not anyone else; the
    // stack replaces SNS's default policy (which grants the owner account) with this one.
    const topicArns = [c.names.replication_topic_arn, c.names.shadow_topic_arn];
    new sns.TopicPolicy(this, 'ReplicationTopicPolicy', {
      topics: [this.topic, this.shadowTopic],
      policyDocument: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'OnlyPrimaryCapturePublishes',
            principals: [crossAccountPrincipal(t.primary.account_id, [names.captureRoleArn(c)])],
            actions: ['sns:Publish'],
            resources: topicArns,
          }),
          new iam.PolicyStatement({
            sid: 'EnforceTls',
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['sns:Publish'],
            resources: topicArns,
            conditions: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ],
      }),
    });
    // The subscriptions by hand rather than SqsSubscription: that one names the topic's ARN
    // (a token) in the key policy, and the topics are encrypted with the same key: a cycle.
    // The ARNs are known from the topology anyway (names.rs), so the policies name them.
    replicationKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SnsEncryptsIntoTheQueues',
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { ArnEquals: { 'aws:SourceArn': topicArns } },
      }),
    );
    const senders: [sqs.Queue, string[]][] = [
      [this.queue, [c.names.replication_topic_arn]],
      [this.shadowQueue, [c.names.shadow_topic_arn]],
      [this.deadLetterQueue, topicArns],
    ];
    for (const [queue, arns] of senders) {
      // Each topic delivers to its queue, and dead-letters what it cannot deliver to the DLQ.
      queue.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyTheReplicationTopicSends',
          principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [queue.queueArn],
          conditions: { ArnEquals: { 'aws:SourceArn': arns } },
        }),
      );
    }
    for (const [id, topic, queue] of [
      ['ReplicationSubscription', this.topic, this.queue],
      ['ShadowReplicationSubscription', this.shadowTopic, this.shadowQueue],
    ] as const) {
      new sns.Subscription(this, id, {
        topic,
        protocol: sns.SubscriptionProtocol.SQS,
        endpoint: queue.queueArn,
        // The queue receives our message itself, not an SNS envelope around it.
        rawMessageDelivery: true,
        // What SNS cannot deliver to the queue (a KMS or policy mistake) is kept too.
        deadLetterQueue: this.deadLetterQueue,
      });
    }

    // ---- Tables ----
    const tableProps = (partitionKey: string): dynamodb.TableProps => ({
      partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The ledger keeps revoked certificates revoked; the state table holds the fencing token
    // and the audit trail. Losing either is worse than paying for PITR.
    new dynamodb.Table(this, 'LedgerTable', { tableName: t.replication.ledger_table, ...tableProps(c.names.ledger_table_key) });
    new dynamodb.Table(this, 'FailoverStateTable', { tableName: t.failover.state_table, ...tableProps(c.names.state_table_key) });

    // ---- Operators ----
    const operatorTopic = new sns.Topic(this, 'OperatorTopic', {
      topicName: t.failover.operator_topic,
      displayName: 'IoT DR operators',
      masterKey: operatorsKey,
      enforceSSL: true,
    });
    admitAlarms(operatorTopic, t.dr.account_id, t.dr.region);
    if (settings.operatorEmail) operatorTopic.addSubscription(new subs.EmailSubscription(settings.operatorEmail));
    const alarmAction = new cwActions.SnsAction(operatorTopic);

    // ---- DNS failover (flow D) ----
    const zone = hostedZone(this, t, settings);
    if (t.failover.flip === 'data-plane') {
      // Exactly what DataPlaneSwitch::ensure puts (crates/aws/src/failover/data_plane.rs
      // `ServingAlarm`, read from the contract): the checker calls PutMetricAlarm with this
      // definition at every cold start, so any difference (an alarm action) would be
      // overwritten there. Hence no actions here; the failover runbook notifies operators
      // itself. Standard resolution, 60 s: Route 53 follows no high-resolution metric.
      const a = c.serving_alarm;
      const servingAlarm = new cloudwatch.Alarm(this, 'PrimaryServingAlarm', {
        alarmName: a.alarm_name,
        alarmDescription: 'Route 53 sends IoT traffic to DR while this is in ALARM (driven by the DR health checker)',
        metric: new cloudwatch.Metric({
          namespace: a.namespace,
          metricName: a.metric_name,
          dimensionsMap: { [a.dimension_name]: a.dimension_value },
          statistic: a.statistic,
          period: Duration.seconds(a.period_seconds),
        }),
        threshold: a.threshold,
        comparisonOperator: a.comparison_operator as cloudwatch.ComparisonOperator,
        evaluationPeriods: a.evaluation_periods,
        datapointsToAlarm: a.datapoints_to_alarm,
        treatMissingData: a.treat_missing_data as cloudwatch.TreatMissingData,
      });
      const healthCheck = new route53.CfnHealthCheck(this, 'PrimaryHealthCheck', {
        healthCheckConfig: {
          type: 'CLOUDWATCH_METRIC',
          alarmIdentifier: { name: a.alarm_name, region: t.dr.region },
          insufficientDataHealthStatus: a.health_check_insufficient_data,
        },
        healthCheckTags: [{ key: 'Name', value: `iot-dr-primary-${t.dns.record}` }],
      });
      healthCheck.node.addDependency(servingAlarm);
      const record = (id: string, target: string, role: 'PRIMARY' | 'SECONDARY', healthCheckId?: string) =>
        new route53.CfnRecordSet(this, id, {
          hostedZoneId: zone.hostedZoneId,
          name: `${t.dns.record}.`,
          type: 'CNAME',
          ttl: String(t.dns.ttl_seconds),
          resourceRecords: [target],
          setIdentifier: role === 'PRIMARY' ? 'primary' : 'dr',
          failover: role,
          healthCheckId,
        });
      record('PrimaryRecord', t.dns.primary_target, 'PRIMARY', healthCheck.attrHealthCheckId);
      record('DrRecord', t.dns.dr_target, 'SECONDARY');
    }
    // With flip = "dns-api" the checker UPSERTs a plain record at failover; CloudFormation
    // must not own it, or a redeploy during an outage would point devices back at primary.
    // Likewise `[dns] drill_record`, which drills flip.

    if (settings.drCertificateArn) {
      new iot.CfnDomainConfiguration(this, 'DomainConfiguration', {
        domainConfigurationName: c.names.domain_configuration_name,
        domainName: t.dns.record,
        serverCertificateArns: [settings.drCertificateArn],
        serviceType: 'DATA',
        domainConfigurationStatus: 'ENABLED',
      });
    } else {
      Annotations.of(this).addWarningV2(
        'iot-dr:no-domain-configuration',
        `no IoT domain configuration for ${t.dns.record}: pass -c drCertificateArn=<ACM certificate in ${t.dr.region}>`,
      );
    }

    // ---- Functions ----
    const layer = configLayer(this, c, architecture);
    const fn = (id: string, name: names.FunctionName, extra: Partial<ConstructorParameters<typeof RustFunction>[2]>) => {
      const f = new RustFunction(this, id, { fn: name, contract: c, settings, layer, timeout: Duration.minutes(1), ...extra });
      this.functions[name] = f;
      return f;
    };
    const replicator = fn('CertReplicator', 'cert-replicator', { timeout: TIMING.replicatorTimeout });
    replicator.function.addEventSource(
      new sources.SqsEventSource(this.queue, {
        batchSize: 10,
        // Only the failed messages are retried (SqsBatchResponse in lambdas/cert-replicator).
        reportBatchItemFailures: true,
        // Different certificates in parallel, bounded: the account's IoT write quotas are shared.
        // `[replication] register_per_second` paces each instance; set it to the account's
        // RegisterCertificate quota divided by this number.
        maxConcurrency: 5,
      }),
    );
    // The shadow lane's own mapping, with concurrency of its own: a shadow storm scales
    // these pollers, never the registry lane's five.
    replicator.function.addEventSource(
      new sources.SqsEventSource(this.shadowQueue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: 5,
      }),
    );
    // Scheduled functions: a failed run is retried by the next tick, never by piling up
    // asynchronous retries; one at a time (their loops are fenced, but their API budgets
    // are per process).
    const scheduled = { retryAttempts: 0, maxEventAge: Duration.minutes(1), reservedConcurrentExecutions: 1 };
    const reconciler = fn('Reconciler', 'reconciler', { ...scheduled, timeout: TIMING.reconcilerTimeout, maxEventAge: Duration.minutes(5) });
    const snapshotController = fn('SnapshotController', 'snapshot-controller', {
      ...scheduled,
      timeout: TIMING.snapshotControllerTimeout,
      maxEventAge: Duration.minutes(5),
    });
    const healthChecker = fn('HealthChecker', 'health-checker', { ...scheduled, timeout: healthCheckerTimeout(t), memorySize: 256 });
    if (t.failover.probes.length === 0) {
      Annotations.of(this).addWarningV2(
        'iot-dr:no-probes',
        'failover.probes is empty: the health checker refuses to start without a probe of primary; add [[failover.probes]] to the config before deploying',
      );
    }
    if (t.failover.probes.some((p) => probeFiles(p).length > 0)) {
      Annotations.of(this).addWarningV2(
        'iot-dr:probe-files',
        'a probe names files (ca_file, client_cert_file, client_key_file): they are not bundled; the health checker reads them from its own filesystem (/opt is the config layer)',
      );
    }

    for (const [id, target, name, minutes] of [
      ['ReconcilerSchedule', reconciler, 'reconciler', settings.reconcileEveryMinutes],
      ['SnapshotControllerSchedule', snapshotController, 'snapshot-controller', snapshotScheduleMinutes(c)],
      ['HealthCheckerSchedule', healthChecker, 'health-checker', 1],
    ] as const) {
      new events.Rule(this, id, {
        description: `Runs ${names.fn(c, name).function_name} every ${minutes} minute(s)`,
        schedule: events.Schedule.rate(Duration.minutes(minutes)),
        targets: [new targets.LambdaFunction(target.function, { retryAttempts: 0 })],
      });
    }

    // ---- Roles the functions assume in DR (and primary's capture does not: it publishes
    // with its primary role), and the operators' role ----
    const refs = {
      replicationKeyArn: replicationKey.keyArn,
      regionalSnapshotKeyArn: regionalSnapshotKeyArn(this, c, settings),
      operatorsKeyArn: operatorsKey.keyArn,
      drSnapshotKeyArn: drSnapshotKey?.keyArn ?? t.snapshots.dr_kms_key,
      hostedZoneId: zone.hostedZoneId,
    };
    createSideRoles(
      this,
      c,
      'dr',
      Object.fromEntries(Object.entries(this.functions).map(([k, v]) => [k, v.executionRole])),
      refs,
    );
    // One account: both sides' role_arn may name one role, created here with both shares.
    const operatorSides = operatorRoleSides(t, 'dr');
    if (settings.operatorPrincipal && operatorSides.length > 0) createOperatorRole(this, c, operatorSides, settings.operatorPrincipal, refs);
    outputKeyArn(this, 'ReplicationKeyArn', replicationKey, 'The replication key: pass it to the primary stack as -c replicationKeyArn=…');

    // ---- Alarms → operators ----
    const metric = (functionName: string, metricName: string, statistic: string, period: Duration, dims: Record<string, string> = {}) =>
      new cloudwatch.Metric({
        namespace: c.names.metrics_namespace,
        metricName,
        dimensionsMap: { [c.names.metrics_function_dimension]: functionName, ...dims },
        statistic,
        period,
      });
    const alarm = (id: string, props: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this, id, props);
      a.addAlarmAction(alarmAction);
      a.addOkAction(alarmAction);
      return a;
    };
    alarm('DeadLetterAlarm', {
      alarmName: 'iot-dr-replication-dlq-not-empty',
      alarmDescription: 'Replication messages were dead-lettered: drctl dlq list says why; drctl dlq replay after the fix',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('OldestMessageAlarm', {
      alarmName: 'iot-dr-replication-lagging',
      alarmDescription: `The oldest replication message is older than ${settings.oldestMessageAlarmSeconds} s: the replicator is failing or throttled`,
      metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: settings.oldestMessageAlarmSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('ShadowOldestMessageAlarm', {
      alarmName: 'iot-dr-shadow-replication-lagging',
      alarmDescription: `The oldest shadow replication message is older than ${settings.oldestMessageAlarmSeconds} s: shadows lag (the registry lane is unaffected)`,
      metric: this.shadowQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: settings.oldestMessageAlarmSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const db of c.snapshot_policies) {
      const target = (settings.rpoTargetMinutes ?? intervalMinutes(db) + 60) * 60;
      alarm(`RpoAlarm${db.database}`, {
        alarmName: `iot-dr-rpo-${db.database}`,
        alarmDescription: `No restorable DR snapshot of ${db.database} newer than ${target / 60} minutes (RpoSeconds; missing counts as breaching: no restorable snapshot at all)`,
        metric: metric('snapshot-controller', 'RpoSeconds', 'Maximum', Duration.hours(1), { Database: db.database }),
        threshold: target,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }
    // Drift the reconciler keeps finding hour after hour means capture or apply is broken
    // (one pass's drift is repaired by that pass). Both tiers count.
    const statusTier = { Tier: 'status' };
    alarm('DriftAlarm', {
      alarmName: 'iot-dr-registry-drift',
      alarmDescription: 'The reconciler found missing, mismatched or conflicting certificates in DR for 3 hours running',
      metric: new cloudwatch.MathExpression({
        expression:
          'FILL(missing, 0) + FILL(mismatched, 0) + FILL(conflicts, 0) + FILL(statusMissing, 0) + FILL(statusWrong, 0) + FILL(statusConflicts, 0)',
        usingMetrics: {
          missing: metric('reconciler', 'Missing', 'Sum', Duration.hours(1)),
          mismatched: metric('reconciler', 'Mismatched', 'Sum', Duration.hours(1)),
          conflicts: metric('reconciler', 'Conflicts', 'Sum', Duration.hours(1)),
          statusMissing: metric('reconciler', 'Missing', 'Sum', Duration.hours(1), statusTier),
          statusWrong: metric('reconciler', 'WrongStatus', 'Sum', Duration.hours(1), statusTier),
          statusConflicts: metric('reconciler', 'Conflicts', 'Sum', Duration.hours(1), statusTier),
        },
        period: Duration.hours(1),
        label: 'drift',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // The guarantee behind "nothing lost" is a pass that completes: when the status tier has
    // not verified every certificate for two of its intervals (primary unreachable, a pass
    // cut short, throttling, a reconciler that does not run), say so. No data breaches.
    const unverifiedMinutes = 2 * t.reconcile.status_pass_every_minutes + settings.reconcileEveryMinutes;
    alarm('StatusTierFreshnessAlarm', {
      alarmName: 'iot-dr-reconcile-status-tier-stale',
      alarmDescription: `No completed reconcile status pass for ${unverifiedMinutes} minutes: a certificate missing or wrongly ACTIVE in DR could go unseen (OldestUnverifiedSeconds, Tier=status)`,
      metric: metric('reconciler', 'OldestUnverifiedSeconds', 'Maximum', Duration.hours(1), statusTier),
      threshold: unverifiedMinutes * 60,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm('HealthCheckerErrorsAlarm', {
      alarmName: 'iot-dr-health-checker-errors',
      alarmDescription: 'The health checker failed: automatic failover may not happen (the DNS stays where it is)',
      metric: healthChecker.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('HealthCheckerSilentAlarm', {
      alarmName: 'iot-dr-health-checker-not-running',
      alarmDescription: 'The health checker has not run for 5 minutes: nobody is watching primary',
      metric: healthChecker.function.metricInvocations({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    // Primary down past the failover threshold while traffic stays where it is: held (an
    // operator's hold, or a first deploy not released yet) or within the dwell time after
    // the last flip. The checker also pages once per outage; this keeps it red until
    // someone decides (`drctl failover`, or `drctl release`).
    alarm('FailoverSuppressedAlarm', {
      alarmName: 'iot-dr-failover-suppressed',
      alarmDescription: 'Primary is down past the failover threshold but automatic failover is held or within the dwell time: decide with drctl failover, or drctl release',
      metric: metric('health-checker', 'FailoverSuppressed', 'Maximum', Duration.minutes(1)),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('RunbookStepFailuresAlarm', {
      alarmName: 'iot-dr-runbook-step-failures',
      alarmDescription: 'A failover runbook step failed (restore, flip, notify or audit); the checker retries it, look at its logs',
      metric: metric('health-checker', 'RunbookStepFailures', 'Sum', Duration.minutes(5)),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const [id, f, name] of [
      ['ReplicatorErrorsAlarm', replicator, 'cert-replicator'],
      ['ReconcilerErrorsAlarm', reconciler, 'reconciler'],
      ['SnapshotControllerErrorsAlarm', snapshotController, 'snapshot-controller'],
    ] as const) {
      alarm(id, {
        alarmName: `${names.fn(c, name).function_name}-errors`,
        alarmDescription: `${names.fn(c, name).function_name} invocations failed`,
        metric: f.function.metricErrors({ period: Duration.minutes(15), statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    // ---- Dashboard ----
    const graph = (title: string, metrics: cloudwatch.IMetric[], width = 8) => new cloudwatch.GraphWidget({ title, left: metrics, width, height: 6 });
    const m5 = Duration.minutes(5);
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: 'iot-dr',
      widgets: [
        [
          graph('Replication applied / stale / rejected', [
            metric('cert-replicator', 'Applied', 'Sum', m5),
            metric('cert-replicator', 'SkippedStale', 'Sum', m5),
            metric('cert-replicator', 'Rejected', 'Sum', m5),
            metric('cert-replicator', 'Parked', 'Sum', m5),
            metric('cert-replicator', 'Retried', 'Sum', m5),
          ]),
          graph('Replication lag (ms)', [metric('cert-replicator', 'LagMax', 'Maximum', m5)]),
          graph('Queues (registry, shadows) and DLQ', [
            this.queue.metricApproximateNumberOfMessagesVisible({ period: m5 }),
            this.queue.metricApproximateAgeOfOldestMessage({ period: m5 }),
            this.shadowQueue.metricApproximateNumberOfMessagesVisible({ period: m5 }),
            this.shadowQueue.metricApproximateAgeOfOldestMessage({ period: m5 }),
            this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: m5 }),
          ]),
        ],
        [
          graph('Reconcile drift', [
            metric('reconciler', 'Missing', 'Sum', Duration.hours(1)),
            metric('reconciler', 'Mismatched', 'Sum', Duration.hours(1)),
            metric('reconciler', 'Conflicts', 'Sum', Duration.hours(1)),
            metric('reconciler', 'Extra', 'Maximum', Duration.hours(1)),
            metric('reconciler', 'Memberships', 'Sum', Duration.hours(1)),
            metric('reconciler', 'Shadows', 'Sum', Duration.hours(1)),
          ]),
          graph('Reconcile repairs and passes', [
            metric('reconciler', 'Repaired', 'Sum', Duration.hours(1)),
            metric('reconciler', 'RepairFailures', 'Sum', Duration.hours(1)),
            metric('reconciler', 'PassesCompleted', 'Sum', Duration.hours(1)),
            metric('reconciler', 'PrimaryUnreachable', 'Maximum', Duration.hours(1)),
          ]),
          graph('RPO (s) per database', c.snapshot_policies.map((db) => metric('snapshot-controller', 'RpoSeconds', 'Maximum', Duration.minutes(15), { Database: db.database }))),
        ],
        [
          graph('Health rounds', [
            metric('health-checker', 'RoundDown', 'Sum', m5),
            metric('health-checker', 'ProbeFailures', 'Sum', m5),
            metric('health-checker', 'FailoverHeld', 'Sum', m5),
            metric('health-checker', 'FailoverSuppressed', 'Sum', m5),
          ]),
          graph('Slowest probe (ms)', [metric('health-checker', 'SlowestProbeMs', 'Maximum', m5)]),
          graph('Serving (1 = primary)', [
            new cloudwatch.Metric({
              namespace: c.serving_alarm.namespace,
              metricName: c.serving_alarm.metric_name,
              dimensionsMap: { [c.serving_alarm.dimension_name]: c.serving_alarm.dimension_value },
              statistic: 'Minimum',
              period: Duration.minutes(1),
            }),
            metric('health-checker', 'FailedOver', 'Maximum', Duration.minutes(1)),
          ]),
        ],
      ],
    });
  }
}

/**
 * The hosted zone of `[dns] zone`: an existing one by id (`hostedZoneId`), a new one
 * (`createHostedZone=true`, kept on stack deletion: its records are the fleet's routing),
 * or by default the existing public zone, looked up at synth.
 */
function hostedZone(scope: Construct, t: Topology, settings: IotDrStackProps['settings']): route53.IHostedZone {
  if (settings.hostedZoneId) {
    return route53.PublicHostedZone.fromHostedZoneAttributes(scope, 'Zone', { hostedZoneId: settings.hostedZoneId, zoneName: t.dns.zone });
  }
  if (settings.createHostedZone) {
    const zone = new route53.PublicHostedZone(scope, 'Zone', { zoneName: t.dns.zone, comment: 'IoT DR custom domain (flipped by the DR health checker)' });
    zone.applyRemovalPolicy(RemovalPolicy.RETAIN);
    return zone;
  }
  return route53.HostedZone.fromLookup(scope, 'Zone', { domainName: t.dns.zone, privateZone: false });
}
