// What the stacks must hold (issue 8), asserted on the synthesized templates.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { foreignKeyArn } from '../lib/keys';
import * as names from '../lib/names';
import { STAR_RESOURCE_ACTIONS } from '../lib/permissions';
import { CAPTURED_API_CALLS, JITR_TOPIC, MEMBERSHIP_EVENTS_TOPIC, SHADOW_TOPICS, THING_EVENTS_TOPIC } from '../lib/primary-stack';
import { array, CONTRACTS, REPO_DIR, resources, statements, synth } from './helpers';

const sandbox = () => synth();
const production = (extra: Record<string, string> = {}) => synth({ contract: CONTRACTS.production, ...extra });

describe('stacks', () => {
  it('puts each stack in its account and region', () => {
    const { built } = sandbox();
    assert.deepEqual([built.primary.account, built.primary.region], ['111111111111', 'us-east-1']);
    assert.deepEqual([built.primarySnapshotKey.account, built.primarySnapshotKey.region], ['111111111111', 'us-west-2']);
    assert.deepEqual([built.dr.account, built.dr.region], ['222222222222', 'us-west-2']);
  });

  it('refuses to synthesize without Lambda zips unless placeholders are allowed', () => {
    assert.throws(() => synth({ allowPlaceholderAssets: 'false', lambdaAssetsDir: '/nonexistent' }), /scripts\/build-lambdas\.sh/);
  });
});

describe('replication path (DR)', () => {
  it('lets only the primary capture role publish to the topic', () => {
    const { templates, built } = sandbox();
    const c = built.contract;
    const t = c.topology;
    const policies = resources(templates[built.dr.stackName], 'AWS::SNS::TopicPolicy').filter(([, r]) =>
      array(r.Properties.Topics).some((ref: any) => ref.Ref?.startsWith('ReplicationTopic')),
    );
    assert.equal(policies.length, 1);
    const allows = policies[0][1].Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Allow');
    assert.equal(allows.length, 1, 'exactly one Allow statement');
    const [allow] = allows;
    assert.deepEqual(array(allow.Action), ['sns:Publish']);
    assert.deepEqual(allow.Principal, { AWS: `arn:aws:iam::${t.primary.account_id}:root` });
    assert.deepEqual(allow.Condition, { ArnEquals: { 'aws:PrincipalArn': names.captureRoleArn(c) } });
    assert.equal(names.captureRoleArn(c), 'arn:aws:iam::111111111111:role/iot-dr-cert-capture-primary');
    // …and that is the role the capture Lambda assumes, in the primary stack.
    const env = resources(templates[built.primary.stackName], 'AWS::Lambda::Function').find(
      ([, r]) => r.Properties.FunctionName === 'iot-dr-cert-capture',
    )![1].Properties.Environment.Variables;
    assert.equal(env.DRCTL__PRIMARY__ROLE_ARN, names.captureRoleArn(c));
    sandbox().primary.hasResourceProperties('AWS::IAM::Role', { RoleName: 'iot-dr-cert-capture-primary' });
  });

  it('encrypts every topic and queue with a customer-managed KMS key', () => {
    const { templates } = sandbox();
    let count = 0;
    for (const template of Object.values(templates)) {
      for (const [id, r] of [...resources(template, 'AWS::SNS::Topic'), ...resources(template, 'AWS::SQS::Queue')]) {
        count++;
        const key = r.Properties.KmsMasterKeyId;
        assert.ok(key?.['Fn::GetAtt']?.[1] === 'Arn' && key['Fn::GetAtt'][0].includes('Key'), `${id} is not encrypted with a key of this stack: ${JSON.stringify(key)}`);
      }
    }
    assert.ok(count >= 5, `expected the replication topic, queue, DLQ and both operator topics, saw ${count}`);
  });

  it('is a FIFO topic into a FIFO queue with a DLQ after 5 receives, raw delivery and SNS redrive', () => {
    const { dr, built } = sandbox();
    const c = built.contract;
    dr.hasResourceProperties('AWS::SNS::Topic', { TopicName: c.names.replication_topic_name, FifoTopic: true, ContentBasedDeduplication: false });
    dr.hasResourceProperties('AWS::SQS::Queue', { QueueName: c.names.dead_letter_queue_name, FifoQueue: true, MessageRetentionPeriod: 1209600 });
    dr.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: c.names.replication_queue_name,
      FifoQueue: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] }, maxReceiveCount: c.names.max_receive_count },
    });
    dr.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] } },
    });
  });

  it('gives shadows a lane of their own: topic, queue, subscription and event source mapping', () => {
    const { dr, built } = sandbox();
    const c = built.contract;
    dr.hasResourceProperties('AWS::SNS::Topic', { TopicName: c.names.shadow_topic_name, FifoTopic: true, ContentBasedDeduplication: false });
    dr.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: c.names.shadow_queue_name,
      FifoQueue: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] }, maxReceiveCount: c.names.max_receive_count },
    });
    dr.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      TopicArn: { Ref: Match.stringLikeRegexp('^ShadowReplicationTopic') },
      Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ShadowReplicationQueue'), 'Arn'] },
    });
    dr.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ShadowReplicationQueue'), 'Arn'] },
    });
  });

  it('feeds the replicator with partial batch failures, within the queue visibility', () => {
    const { dr, templates, built } = sandbox();
    dr.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReplicationQueue'), 'Arn'] },
    });
    const template = templates[built.dr.stackName];
    const queue = resources(template, 'AWS::SQS::Queue').find(([id]) => id.startsWith('ReplicationQueue'))![1];
    const fn = resources(template, 'AWS::Lambda::Function').find(([, r]) => r.Properties.FunctionName === 'iot-dr-cert-replicator')![1];
    assert.ok(queue.Properties.VisibilityTimeout >= 6 * fn.Properties.Timeout, 'visibility at least six times the timeout');
  });

  it('keeps the ledger and the failover state in tables with PITR and KMS encryption', () => {
    const { dr, built } = sandbox();
    const c = built.contract;
    const t = c.topology;
    for (const [table, key] of [[t.replication.ledger_table, c.names.ledger_table_key], [t.failover.state_table, c.names.state_table_key]]) {
      dr.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: table,
        KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
    }
  });
});

describe('capture (primary)', () => {
  it('routes exactly the CloudTrail calls capture.rs handles', () => {
    // The match arms of parse_cloudtrail, read from the Rust source.
    const src = fs.readFileSync(path.join(REPO_DIR, 'crates/core/src/replication/capture.rs'), 'utf8');
    const body = src.slice(src.indexOf('fn parse_cloudtrail'), src.indexOf('other => return Err(EventError::UnsupportedApiCall'));
    const arms = body.slice(body.indexOf('match name {'));
    // Only the arms' patterns: `"A" | "B" =>`, not the field names inside the arms.
    const handled = [...arms.matchAll(/"([A-Za-z]+)"(?=\s*(?:\||=>))|(?<=\|\s*)"([A-Za-z]+)"/g)].map((m) => m[1] ?? m[2]);
    assert.deepEqual([...CAPTURED_API_CALLS].sort(), [...new Set(handled)].sort());
    sandbox().primary.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.iot'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['iot.amazonaws.com'], eventName: CAPTURED_API_CALLS },
      },
      Targets: [Match.objectLike({ DeadLetterConfig: Match.anyValue(), RetryPolicy: Match.anyValue() })],
    });
  });

  it('has topic rules for JITR, registry thing and membership events, and turns registry events on narrowly', () => {
    const { primary, templates, built } = sandbox();
    for (const topic of [JITR_TOPIC, THING_EVENTS_TOPIC, MEMBERSHIP_EVENTS_TOPIC]) {
      primary.hasResourceProperties('AWS::IoT::TopicRule', {
        TopicRulePayload: Match.objectLike({ Sql: `SELECT * FROM '${topic}'`, Actions: [{ Lambda: Match.anyValue() }], ErrorAction: { Sqs: Match.anyValue() } }),
      });
    }
    // Shadows: the documents of every update and every deletion, classic and named, with
    // the topic (capture reads the thing and shadow names from it).
    const shadowTopics = SHADOW_TOPICS.map(([, topic]) => topic);
    assert.deepEqual(shadowTopics.sort(), [
      '$aws/things/+/shadow/delete/accepted',
      '$aws/things/+/shadow/name/+/delete/accepted',
      '$aws/things/+/shadow/name/+/update/documents',
      '$aws/things/+/shadow/update/documents',
    ]);
    for (const topic of shadowTopics) {
      primary.hasResourceProperties('AWS::IoT::TopicRule', {
        TopicRulePayload: Match.objectLike({ Sql: `SELECT *, topic() AS topic FROM '${topic}'`, Actions: [{ Lambda: Match.anyValue() }], ErrorAction: { Sqs: Match.anyValue() } }),
      });
    }
    const custom = resources(templates[built.primary.stackName], 'Custom::AWS');
    assert.equal(custom.length, 1);
    const create = JSON.stringify(custom[0][1].Properties.Create);
    assert.match(create, /updateEventConfigurations/);
    assert.match(create, /\bTHING\b[^_].*Enabled.*true/);
    // Memberships fleet provisioning sets have no CloudTrail event: capture needs these.
    assert.match(create, /THING_GROUP_MEMBERSHIP.*Enabled.*true/);
    primary.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [{ Action: 'iot:UpdateEventConfigurations', Effect: 'Allow', Resource: '*' }], Version: '2012-10-17' },
    });
  });

  it('creates a KMS-encrypted trail only when asked', () => {
    const { primary } = sandbox();
    primary.hasResourceProperties('AWS::CloudTrail::Trail', { KMSKeyId: Match.anyValue(), IsLogging: true, EnableLogFileValidation: true });
    primary.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) })] },
    });
    production({ cloudTrail: 'existing' }).primary.resourceCountIs('AWS::CloudTrail::Trail', 0);
  });
});

describe('health and failover (DR)', () => {
  it('runs the health checker every minute, alone, for at least 70 s', () => {
    const { templates, built } = sandbox();
    const template = templates[built.dr.stackName];
    const [id, fn] = resources(template, 'AWS::Lambda::Function').find(([, r]) => r.Properties.FunctionName === 'iot-dr-health-checker')!;
    assert.equal(fn.Properties.ReservedConcurrentExecutions, 1);
    assert.ok(fn.Properties.Timeout >= 70, `timeout ${fn.Properties.Timeout}`);
    const schedules = resources(template, 'AWS::Events::Rule').filter(([, r]) =>
      array(r.Properties.Targets).some((target: any) => target.Arn?.['Fn::GetAtt']?.[0] === id),
    );
    assert.equal(schedules.length, 1);
    assert.equal(schedules[0][1].Properties.ScheduleExpression, 'rate(1 minute)');
  });

  it('has the serving alarm exactly as the checker puts it, with no actions', () => {
    const { dr, built } = sandbox();
    // The definition DataPlaneSwitch::ensure puts (crates/aws/src/failover/data_plane.rs
    // `ServingAlarm`), as the contract carries it…
    const a = built.contract.serving_alarm;
    dr.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: a.alarm_name,
      Namespace: a.namespace,
      MetricName: a.metric_name,
      Dimensions: [{ Name: a.dimension_name, Value: a.dimension_value }],
      Statistic: a.statistic,
      Period: a.period_seconds,
      EvaluationPeriods: a.evaluation_periods,
      DatapointsToAlarm: a.datapoints_to_alarm,
      Threshold: a.threshold,
      ComparisonOperator: a.comparison_operator,
      TreatMissingData: a.treat_missing_data,
      AlarmActions: Match.absent(),
    });
    // …which is one Route 53 can follow: standard resolution (60 s), any 0 (DR serves) alarms,
    // and no data keeps the last state.
    assert.deepEqual(
      [a.dimension_value, a.statistic, a.period_seconds, a.comparison_operator, a.threshold, a.treat_missing_data],
      ['iot.example.com', 'Minimum', 60, 'LessThanThreshold', 1, 'ignore'],
    );
  });

  it('has failover records, PRIMARY behind a health check on that alarm in the DR region', () => {
    const { dr, built } = sandbox();
    const c = built.contract;
    const t = c.topology;
    dr.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: {
        Type: 'CLOUDWATCH_METRIC',
        AlarmIdentifier: { Name: c.serving_alarm.alarm_name, Region: t.dr.region },
        InsufficientDataHealthStatus: 'LastKnownStatus',
      },
    });
    dr.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: `${t.dns.record}.`, Type: 'CNAME', Failover: 'PRIMARY', SetIdentifier: 'primary',
      ResourceRecords: [t.dns.primary_target], HealthCheckId: { 'Fn::GetAtt': ['PrimaryHealthCheck', 'HealthCheckId'] }, TTL: '30',
    });
    dr.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: `${t.dns.record}.`, Type: 'CNAME', Failover: 'SECONDARY', SetIdentifier: 'dr', ResourceRecords: [t.dns.dr_target], HealthCheckId: Match.absent(),
    });
    // In the existing zone the deployer named, never a new undelegated one.
    dr.resourceCountIs('AWS::Route53::HostedZone', 0);
    dr.allResourcesProperties('AWS::Route53::RecordSet', { HostedZoneId: 'Z0000000000000000000T' });
  });

  it('leaves the record to the checker with flip = "dns-api"', () => {
    const { dr, built } = synth({ contract: CONTRACTS.dnsApi });
    assert.equal(built.contract.topology.failover.flip, 'dns-api');
    dr.resourceCountIs('AWS::Route53::RecordSet', 0);
    dr.resourceCountIs('AWS::Route53::HealthCheck', 0);
  });

  it('has the IoT domain configuration in both regions', () => {
    const { primary, dr, built } = sandbox();
    for (const template of [primary, dr]) {
      template.hasResourceProperties('AWS::IoT::DomainConfiguration', {
        DomainConfigurationName: 'iot-dr-iot-example-com',
        DomainName: built.contract.topology.dns.record,
        ServiceType: 'DATA',
      });
    }
  });

  it('alarms operators on the DLQ, message age, RPO, drift, health-checker errors and suppressed failovers', () => {
    const { templates, built } = production();
    const alarms = resources(templates[built.dr.stackName], 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    const byName = new Map(alarms.map((a) => [a.AlarmName, a]));
    for (const name of [
      'iot-dr-replication-dlq-not-empty',
      'iot-dr-replication-lagging',
      'iot-dr-rpo-fleetdb',
      'iot-dr-rpo-fleet-aurora',
      'iot-dr-registry-drift',
      'iot-dr-reconcile-status-tier-stale',
      'iot-dr-health-checker-errors',
      'iot-dr-health-checker-not-running',
      'iot-dr-failover-suppressed',
    ]) {
      const alarm = byName.get(name);
      assert.ok(alarm, `missing alarm ${name}`);
      assert.equal(array(alarm.AlarmActions).length, 1, `${name} notifies the operators' topic`);
      assert.match(JSON.stringify(alarm.AlarmActions), /OperatorTopic/);
    }
    const rpo = byName.get('iot-dr-rpo-fleet-aurora');
    assert.deepEqual([rpo.MetricName, rpo.Namespace, rpo.Threshold, rpo.TreatMissingData], ['RpoSeconds', 'IotDr', (60 + 60) * 60, 'breaching']);
    assert.deepEqual(rpo.Dimensions, [{ Name: 'Database', Value: 'fleet-aurora' }, { Name: 'Function', Value: 'snapshot-controller' }]);
    // Two status-pass intervals (60 min in the config) and one reconciler period (15 min).
    const stale = byName.get('iot-dr-reconcile-status-tier-stale');
    assert.deepEqual(
      [stale.MetricName, stale.Statistic, stale.Threshold, stale.TreatMissingData],
      ['OldestUnverifiedSeconds', 'Maximum', (2 * 60 + 15) * 60, 'breaching'],
    );
    assert.deepEqual(stale.Dimensions, [{ Name: 'Function', Value: 'reconciler' }, { Name: 'Tier', Value: 'status' }]);
    const suppressed = byName.get('iot-dr-failover-suppressed');
    assert.deepEqual(
      [suppressed.MetricName, suppressed.Statistic, suppressed.Period, suppressed.Threshold, suppressed.TreatMissingData],
      ['FailoverSuppressed', 'Maximum', 60, 0, 'notBreaching'],
    );
    assert.deepEqual(suppressed.Dimensions, [{ Name: 'Function', Value: 'health-checker' }]);
    const drift = JSON.stringify(byName.get('iot-dr-registry-drift').Metrics);
    for (const m of ['"MetricName":"WrongStatus"', '"Name":"Tier","Value":"status"']) assert.ok(drift.includes(m), `drift alarm lacks ${m}`);
  });
});

describe('functions', () => {
  it('give each function its config layer and its own role per side, assumable only by it', () => {
    const { templates, built } = production();
    const c = built.contract;
    const t = c.topology;
    const all = Object.values(templates).flatMap((tpl) => resources(tpl, 'AWS::Lambda::Function'));
    for (const fn of names.FUNCTIONS) {
      const found = all.find(([, r]) => r.Properties.FunctionName === names.fn(c, fn).function_name);
      assert.ok(found, `missing ${fn}`);
      const p = found[1].Properties;
      assert.equal(p.Runtime, 'provided.al2023');
      assert.deepEqual(p.Architectures, ['arm64']);
      assert.equal(p.Layers.length, 1);
      const env = p.Environment.Variables;
      assert.equal(env.DRCTL_CONFIG, '/opt/config.toml');
      for (const side of ['primary', 'dr'] as const) {
        const arn = env[`DRCTL__${side.toUpperCase()}__ROLE_ARN`];
        assert.ok(arn.startsWith(`arn:aws:iam::${t[side].account_id}:role/`), `${fn} ${side} role in the ${side} account (topology check)`);
        assert.equal(arn, names.usesSide(c, fn, side) ? names.sideRoleArn(c, fn, side) : t[side].role_arn);
      }
      // The execution role may assume exactly the function's own side roles.
      const home = templates[names.fn(c, fn).home === 'primary' ? built.primary.stackName : built.dr.stackName];
      const assume = statements(home).filter(
        (x) => x.kind === 'identity' && array(x.s.Action).includes('sts:AssumeRole') && x.where.includes(fn.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('')),
      );
      assert.equal(assume.length, 1, `${fn}: one AssumeRole statement`);
      assert.deepEqual(array(assume[0].s.Resource).sort(), names.fn(c, fn).sides_used.map((side) => names.sideRoleArn(c, fn, side)).sort());
      // Each side role trusts that execution role and nobody else.
      for (const side of names.fn(c, fn).sides_used) {
        const roleTemplate = templates[side === 'primary' ? built.primary.stackName : built.dr.stackName];
        const role = resources(roleTemplate, 'AWS::IAM::Role').find(([, r]) => r.Properties.RoleName === names.sideRole(c, fn, side).name);
        assert.ok(role, `${fn} has a role in ${side}`);
        const trust = role[1].Properties.AssumeRolePolicyDocument.Statement;
        assert.equal(trust.length, 1);
        if (names.fn(c, fn).home === side) {
          assert.match(JSON.stringify(trust[0].Principal), /^\{"AWS":\{"Fn::GetAtt":\["[A-Za-z]+ExecutionRole[A-Z0-9]+","Arn"\]\}\}$/);
          assert.equal(trust[0].Condition, undefined);
        } else {
          assert.deepEqual(trust[0].Condition, { ArnEquals: { 'aws:PrincipalArn': names.executionRoleArn(c, fn) } });
          assert.deepEqual(trust[0].Principal, { AWS: `arn:aws:iam::${t[names.fn(c, fn).home].account_id}:root` });
        }
      }
    }
  });

  it('gives the reconciler read-only IoT in primary and the health checker only DescribeAlarms there', () => {
    const { templates, built } = production();
    const primary = statements(templates[built.primary.stackName]).filter((x) => x.kind === 'identity');
    const actionsOf = (roleId: string) => primary.filter((x) => x.where.startsWith(roleId)).flatMap((x) => array<string>(x.s.Action));
    const reconciler = actionsOf('ReconcilerPrimaryRole');
    assert.ok(reconciler.length > 0);
    for (const a of reconciler) assert.match(a, /^iot:(Describe|List|Get)/, `reconciler primary role: ${a} is not read-only`);
    // In primary's own region the checker may only read the probed alarms; everything else it
    // holds there is the restore from replicated backups, which lives in the DR region.
    const checker = primary.filter((x) => x.where.startsWith('HealthCheckerPrimaryRole'));
    const inRegion = (region: string) => (x: (typeof checker)[number]) => array<unknown>(x.s.Resource).every((r) => JSON.stringify(r).includes(`:${region}:`));
    // Global clusters' ARNs name no region, and GetMetricData takes only "*" (the global
    // secondary's lag): neither reaches primary's region by itself (the client is the DR
    // region's, global_database.rs).
    const regionless = (x: (typeof checker)[number]) =>
      array<unknown>(x.s.Resource).every((r) => r === '*' || /^arn:aws:rds::\d{12}:global-cluster:/.test(String(r)) || JSON.stringify(r).includes(`:${built.contract.topology.dr.region}:`));
    const primaryRegion = checker.filter((x) => !regionless(x));
    assert.deepEqual(primaryRegion.flatMap((x) => array<string>(x.s.Action)), ['cloudwatch:DescribeAlarms']);
    assert.ok(primaryRegion.every(inRegion(built.contract.topology.primary.region)));
    for (const x of checker.filter(regionless)) {
      for (const a of array<string>(x.s.Action)) {
        assert.match(
          a,
          /^(rds:(Describe|RestoreDBInstanceToPointInTime$|AddTagsToResource$|RemoveFromGlobalCluster$|CreateDBInstance$)|kms:|cloudwatch:GetMetricData$)/,
          `checker in DR region: ${a}`,
        );
      }
    }
    const capture = actionsOf('CertCapturePrimaryRole');
    for (const a of capture) assert.match(a, /^(iot:(Describe|List|Get)|sns:Publish$|kms:(GenerateDataKey|Decrypt)$)/, `capture: ${a}`);
    const publish = primary.filter((x) => x.where.startsWith('CertCapturePrimaryRole') && array(x.s.Action).includes('sns:Publish'));
    // Both lanes' topics (registry, shadows), nothing else.
    assert.deepEqual(publish.map((x) => x.s.Resource), [[built.contract.names.replication_topic_arn, built.contract.names.shadow_topic_arn]]);
  });

  it('lets the health checker promote the configured global secondary in the DR region, and nothing else global', () => {
    const { templates, built } = production();
    const t = built.contract.topology;
    const checker = statements(templates[built.primary.stackName]).filter((x) => x.kind === 'identity' && x.where.startsWith('HealthCheckerPrimaryRole'));
    const on = (action: string) => checker.filter((x) => array<string>(x.s.Action).includes(action)).flatMap((x) => array<string>(x.s.Resource)).sort();
    const secondary = `arn:aws:rds:${t.dr.region}:${t.primary.account_id}:cluster:fleet-aurora-west`;
    const globals = `arn:aws:rds::${t.primary.account_id}:global-cluster:*`;
    assert.deepEqual(on('rds:RemoveFromGlobalCluster'), [globals, secondary].sort());
    assert.deepEqual(on('rds:DescribeGlobalClusters'), [globals]);
    assert.ok(on('rds:DescribeDBClusters').includes(secondary));
    assert.ok(on('rds:AddTagsToResource').includes(secondary));
    assert.deepEqual(on('cloudwatch:GetMetricData'), ['*']);
    assert.ok(on('rds:CreateDBInstance').includes(`arn:aws:rds:${t.dr.region}:${t.primary.account_id}:db:fleet-aurora-west-*`));
    // No global database anywhere else, nor on the DR account's side.
    for (const [name, template] of Object.entries(templates)) {
      for (const x of statements(template)) {
        if (name === built.primary.stackName && x.where.startsWith('HealthCheckerPrimaryRole')) continue;
        for (const a of array<string>(x.s.Action)) assert.ok(!/GlobalCluster/.test(a), `${name} ${x.where}: ${a}`);
      }
    }
  });

  it('lets capture read thing groups in primary and the replicator write them in DR, on group and thing ARNs only', () => {
    const { templates, built } = production();
    const c = built.contract;
    const t = c.topology;
    const grants = (template: string, roleId: string) => statements(templates[template])
      .filter((x) => x.kind === 'identity' && x.where.startsWith(roleId))
      .flatMap((x) => array<string>(x.s.Action).map((action) => [action, array<string>(x.s.Resource).sort()] as const));
    const on = (found: ReturnType<typeof grants>, action: string) => found.filter(([a]) => a === action).map(([, r]) => r);
    const group = (side: 'primary' | 'dr') => `arn:aws:iot:${t[side].region}:${t[side].account_id}:thinggroup/*`;
    const thing = (side: 'primary' | 'dr') => `arn:aws:iot:${t[side].region}:${t[side].account_id}:thing/*`;
    const capture = grants(built.primary.stackName, 'CertCapturePrimaryRole');
    assert.deepEqual(on(capture, 'iot:DescribeThingGroup'), [[group('primary')]]);
    assert.deepEqual(on(capture, 'iot:ListThingGroupsForThing'), [[thing('primary')]]);
    assert.ok(!capture.some(([a]) => /ThingGroup$|ToThingGroup$/.test(a) && !/^iot:(Describe|List)/.test(a)), 'capture writes no groups');
    const replicator = grants(built.dr.stackName, 'CertReplicatorDrRole');
    for (const action of ['iot:CreateThingGroup', 'iot:UpdateThingGroup', 'iot:DeleteThingGroup', 'iot:CreateDynamicThingGroup', 'iot:DescribeThingGroup']) {
      assert.deepEqual(on(replicator, action), [[group('dr')]], action);
    }
    // Group policies: AttachPolicy on groups as well as certificates, in DR only.
    assert.deepEqual(on(replicator, 'iot:AttachPolicy').flat().sort(), [`arn:aws:iot:${t.dr.region}:${t.dr.account_id}:cert/*`, group('dr')].sort());
    assert.deepEqual(on(replicator, 'iot:AddThingToThingGroup'), [[group('dr'), thing('dr')].sort()]);
    assert.deepEqual(on(replicator, 'iot:RemoveThingFromThingGroup'), [[group('dr'), thing('dr')].sort()]);
    // Role aliases: read in primary, written in DR, their roles passed only to IoT's
    // credentials provider and only DR's own.
    const alias = (side: 'primary' | 'dr') => `arn:aws:iot:${t[side].region}:${t[side].account_id}:rolealias/*`;
    assert.deepEqual(on(capture, 'iot:DescribeRoleAlias'), [[alias('primary')]]);
    // Shadows: capture reads none (the documents carry them); the replicator writes DR's.
    assert.deepEqual(on(capture, 'iot:GetThingShadow'), []);
    for (const action of ['iot:GetThingShadow', 'iot:UpdateThingShadow', 'iot:DeleteThingShadow']) {
      assert.deepEqual(on(replicator, action), [[thing('dr')]], action);
    }
    assert.deepEqual(on(replicator, 'iot:CreateRoleAlias'), [[alias('dr')]]);
    const passRole = statements(templates[built.dr.stackName])
      .filter((x) => x.kind === 'identity' && x.where.startsWith('CertReplicatorDrRole') && array(x.s.Action).includes('iam:PassRole'));
    assert.deepEqual(passRole.map((x) => [x.s.Resource, x.s.Condition]), [
      [`arn:aws:iam::${t.dr.account_id}:role/*`, { StringEquals: { 'iam:PassedToService': 'credentials.iot.amazonaws.com' } }],
      [`arn:aws:iam::${t.dr.account_id}:role/*`, { StringEquals: { 'iam:PassedToService': 'iot.amazonaws.com' } }],
    ]);
    // Shadows compared by the reconciler: read on both sides, written in DR only.
    const reconcilerPrimary = grants(built.primary.stackName, 'ReconcilerPrimaryRole');
    assert.deepEqual(on(reconcilerPrimary, 'iot:ListNamedShadowsForThing'), [[thing('primary')]]);
    assert.deepEqual(on(reconcilerPrimary, 'iot:GetThingShadow'), [[thing('primary')]]);
    assert.deepEqual(on(reconcilerPrimary, 'iot:UpdateThingShadow'), []);
    assert.deepEqual(on(grants(built.dr.stackName, 'ReconcilerDrRole'), 'iot:ListNamedShadowsForThing'), [[thing('dr')]]);
    // Provisioning templates: read in primary, written (with their versions) in DR only.
    const template = (side: 'primary' | 'dr') => `arn:aws:iot:${t[side].region}:${t[side].account_id}:provisioningtemplate/*`;
    assert.deepEqual(on(capture, 'iot:DescribeProvisioningTemplate'), [[template('primary')]]);
    assert.ok(!capture.some(([a]) => /ProvisioningTemplate/.test(a) && a !== 'iot:DescribeProvisioningTemplate'), 'capture writes no templates');
    for (const action of ['iot:CreateProvisioningTemplate', 'iot:UpdateProvisioningTemplate', 'iot:DeleteProvisioningTemplate', 'iot:CreateProvisioningTemplateVersion', 'iot:DeleteProvisioningTemplateVersion']) {
      assert.deepEqual(on(replicator, action), [[template('dr')]], action);
    }
    // The reconciler neither writes templates nor passes roles to IoT for them.
    const reconcilerDr = grants(built.dr.stackName, 'ReconcilerDrRole');
    assert.ok(!reconcilerDr.some(([a]) => /ProvisioningTemplate/.test(a)), 'the reconciler carries no templates');
    const reconcilerPassRole = statements(templates[built.dr.stackName])
      .filter((x) => x.kind === 'identity' && x.where.startsWith('ReconcilerDrRole') && array(x.s.Action).includes('iam:PassRole'));
    assert.ok(reconcilerPassRole.every((x) => JSON.stringify(x.s.Condition).includes('credentials.iot.amazonaws.com')), 'only role aliases pass roles there');
  });

  it('lets the replicator send only to the DLQ (parking poison), never to the replication queue', () => {
    const { templates, built } = production();
    const dr = statements(templates[built.dr.stackName]).filter((x) => x.kind === 'identity' && x.where.startsWith('CertReplicatorDrRole'));
    const sqs = dr.filter((x) => array<string>(x.s.Action).some((a) => a.startsWith('sqs:')));
    assert.deepEqual(
      sqs.map((x) => [array<string>(x.s.Action).sort(), x.s.Resource]),
      [[['sqs:GetQueueUrl', 'sqs:SendMessage'], built.contract.names.dead_letter_queue_arn]],
    );
  });

  it('shares the regional snapshot key with DR snapshot copies only', () => {
    const { primarySnapshotKey, built } = sandbox();
    const c = built.contract;
    const t = c.topology;
    primarySnapshotKey.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/dr-snapshots' });
    primarySnapshotKey.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DrCopiesSnapshotsEncryptedWithIt',
            Principal: { AWS: `arn:aws:iam::${t.dr.account_id}:root` },
            Condition: { ArnEquals: { 'aws:PrincipalArn': [names.sideRoleArn(c, 'snapshot-controller', 'dr'), t.dr.role_arn] } },
          }),
        ]),
      },
    });
  });
});

describe('IAM', () => {
  // AWS's own requirement: a key policy must let the owning account administer the key
  // (kms:* for the account root), or the key becomes unmanageable. Nothing else may use "*".
  const allowedStarAction = (x: { kind: string; s: any }, action: string, account: string) =>
    action === 'kms:*' && x.kind === 'key' && x.s.Principal?.AWS === `arn:aws:iam::${account}:root` && !x.s.Condition;

  for (const [label, context] of [['sandbox', {}], ['production', undefined]] as const) {
    it(`has no "*" action and "*" resources only where AWS requires them (${label})`, () => {
      const { templates, built } = context ? synth(context) : production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
      const accounts: Record<string, string> = {
        [built.primary.stackName]: built.contract.topology.primary.account_id,
        [built.primarySnapshotKey.stackName]: built.contract.topology.primary.account_id,
        [built.dr.stackName]: built.contract.topology.dr.account_id,
      };
      for (const [stackName, template] of Object.entries(templates)) {
        for (const x of statements(template)) {
          if (x.s.Effect !== 'Allow') continue;
          for (const action of array<string>(x.s.Action)) {
            const wildcardService = action === '*' || action.endsWith(':*');
            assert.ok(!wildcardService || allowedStarAction(x, action, accounts[stackName]), `${stackName} ${x.where}: action ${action}`);
          }
          if (x.kind === 'identity' && array(x.s.Resource).includes('*')) {
            for (const action of array<string>(x.s.Action)) {
              assert.ok(action in STAR_RESOURCE_ACTIONS, `${stackName} ${x.where}: ${action} on "*" is not in STAR_RESOURCE_ACTIONS`);
            }
          }
        }
      }
    });
  }

  it('keeps every policy within IAM size quotas', () => {
    const { templates } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    const size = (doc: unknown) => JSON.stringify(doc).replace(/\s/g, '').length;
    for (const template of Object.values(templates)) {
      for (const [id, r] of resources(template, 'AWS::IAM::Role')) {
        const inline = array<any>(r.Properties.Policies).reduce((n, p) => n + size(p.PolicyDocument), 0);
        assert.ok(inline <= 10240, `${id}: inline policies ${inline} > 10,240 characters`);
      }
      for (const [id, r] of resources(template, 'AWS::IAM::ManagedPolicy')) {
        assert.ok(size(r.Properties.PolicyDocument) <= 6144, `${id}: managed policy over 6,144 characters`);
      }
    }
  });

  it('uses "*" resources only for actions that have no resource type (cfn-lint\'s IAM reference)', (t) => {
    const file = path.join(REPO_DIR, '.venv/lib/python3.11/site-packages/cfnlint/data/AdditionalSpecs/Policies.json');
    const found = fs.existsSync(file)
      ? file
      : fs.readdirSync(path.join(REPO_DIR, '.venv/lib'), { withFileTypes: true })
          .map((d) => path.join(REPO_DIR, '.venv/lib', d.name, 'site-packages/cfnlint/data/AdditionalSpecs/Policies.json'))
          .find((f) => fs.existsSync(f));
    if (!found) return t.skip('cfn-lint is not installed in .venv (make setup)');
    const spec = JSON.parse(fs.readFileSync(found, 'utf8')) as Record<string, { Actions: Record<string, { Resources?: string[] }> }>;
    for (const action of Object.keys(STAR_RESOURCE_ACTIONS)) {
      const [service, name] = action.split(':');
      const entry = spec[service]?.Actions?.[name.toLowerCase()];
      assert.ok(entry, `${action} is not an IAM action`);
      if (action === 'cloudwatch:PutMetricData') continue; // scoped by namespace condition instead
      // Lists only `dataset` (metric datasets, a newer feature): RDS's lag metric has none.
      if (action === 'cloudwatch:GetMetricData') {
        assert.deepEqual(entry.Resources ?? [], ['dataset'], action);
        continue;
      }
      assert.deepEqual(entry.Resources ?? [], [], `${action} supports resource-level permissions: name its resources`);
    }
    // And every action the app grants exists.
    const { templates } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    for (const template of Object.values(templates)) {
      for (const x of statements(template)) {
        for (const action of array<string>(x.s.Action)) {
          if (action.includes('*')) continue;
          const [service, name] = action.split(':');
          assert.ok(spec[service]?.Actions?.[name.toLowerCase()], `${x.where}: unknown action ${action}`);
        }
      }
    }
  });
});

describe('deploy risks', () => {
  it('looks the hosted zone up by default and creates one only when asked, kept on deletion', () => {
    // No hostedZoneId: the zone of [dns] zone is looked up at synth (cdk.context.json).
    const key = 'hosted-zone:account=222222222222:domainName=example.com:privateZone=false:region=us-west-2';
    const lookedUp = synth({ hostedZoneId: '', [key]: { Id: '/hostedzone/ZLOOKEDUP', Name: 'example.com.' } as unknown as string });
    lookedUp.dr.resourceCountIs('AWS::Route53::HostedZone', 0);
    lookedUp.dr.allResourcesProperties('AWS::Route53::RecordSet', { HostedZoneId: 'ZLOOKEDUP' });
    const created = synth({ hostedZoneId: '', createHostedZone: 'true' });
    created.dr.hasResource('AWS::Route53::HostedZone', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain', Properties: { Name: 'example.com.' } });
  });

  it('keeps queues and their messages on stack deletion', () => {
    const { templates } = sandbox();
    let queues = 0;
    for (const template of Object.values(templates)) {
      for (const [id, r] of resources(template, 'AWS::SQS::Queue')) {
        queues++;
        assert.equal(r.DeletionPolicy, 'Retain', `${id} would be deleted with its stack`);
        assert.equal(r.UpdateReplacePolicy, 'Retain', `${id} would be replaced empty`);
      }
    }
    assert.ok(queues >= 3, `expected the replication queue, its DLQ and capture's failures, saw ${queues}`);
  });

  it('grants keys by ARN: never by kms:ResourceAliases, key/* only for the database key through RDS', () => {
    const { templates } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    for (const template of Object.values(templates)) {
      for (const x of statements(template).filter((y) => y.kind === 'identity')) {
        assert.doesNotMatch(JSON.stringify(x.s.Condition ?? {}), /ResourceAliases/, `${x.where} ${x.s.Sid}`);
        for (const resource of array<any>(x.s.Resource)) {
          if (typeof resource !== 'string' || !resource.endsWith(':key/*')) continue;
          const actions = array<string>(x.s.Action);
          const viaRds = JSON.stringify(x.s.Condition ?? {}).includes('"kms:ViaService":"rds.');
          assert.ok(viaRds || (actions.length === 1 && actions[0] === 'kms:DescribeKey'), `${x.where} ${x.s.Sid}: ${actions} on key/*`);
        }
      }
    }
    // The key of the other stacks, by the ARN they output.
    const { templates: t2, built } = sandbox();
    const capture = statements(t2[built.primary.stackName]).find((x) => x.s.Sid === 'DrTopicKey');
    assert.equal(capture?.s.Resource, 'arn:aws:kms:us-west-2:222222222222:key/00000000-0000-4000-8000-00000000000a');
    assert.ok(resources(t2[built.dr.stackName], 'AWS::KMS::Key').length > 0);
    assert.ok(t2[built.dr.stackName].Outputs?.ReplicationKeyArn, 'the DR stack outputs ReplicationKeyArn');
    assert.ok(t2[built.primarySnapshotKey.stackName].Outputs?.RegionalSnapshotKeyArn, 'the key stack outputs RegionalSnapshotKeyArn');
  });

  it('refuses to deploy a stack whose foreign key ARN is missing, naming the context, and synthesizes the others', () => {
    const app = new App();
    const stack = new Stack(app, 'S', { env: { account: '111111111111', region: 'us-east-1' } });
    const arn = foreignKeyArn(stack, undefined, 'replicationKeyArn', 'IotDr-Dr', '222222222222', 'us-west-2');
    assert.match(arn, /^arn:aws:kms:us-west-2:222222222222:key\/missing-context-replicationKeyArn$/);
    assert.throws(
      () => foreignKeyArn(stack, 'arn:aws:kms:us-east-1:222222222222:key/x', 'replicationKeyArn', 'IotDr-Dr', '222222222222', 'us-west-2'),
      /expected a key ARN in account 222222222222, region us-west-2/,
    );
    // The first deploys (the key stack, then DR) need none of the later stacks' outputs.
    const { templates } = synth({ replicationKeyArn: '', regionalSnapshotKeyArn: '' });
    const rules = (stack: string) =>
      JSON.stringify(Object.fromEntries(Object.entries(templates[stack].Rules ?? {}).filter(([id]) => id.startsWith('Missing'))));
    assert.match(rules('IotDr-Primary'), /-c replicationKeyArn=/);
    assert.match(rules('IotDr-Primary'), /-c regionalSnapshotKeyArn=/);
    assert.match(rules('IotDr-Dr'), /-c regionalSnapshotKeyArn=/);
    assert.doesNotMatch(rules('IotDr-Dr'), /replicationKeyArn/, 'DR owns the replication key');
    assert.equal(rules('IotDr-PrimarySnapshotKey'), '{}');
    // An assertion CloudFormation evaluates before it creates anything: always false.
    const rule = templates['IotDr-Primary'].Rules.MissingreplicationKeyArn;
    assert.deepEqual(rule.Assertions[0].Assert, { 'Fn::Equals': ['missing-replicationKeyArn', 'given'] });
  });

  it('lets readiness read exactly the IoT quotas the fleet\'s RTO rests on, in each account\'s own region', () => {
    const { templates, built } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    const t = built.contract.topology;
    for (const [template, side] of [[templates[built.dr.stackName], t.dr], [templates[built.primary.stackName], t.primary]] as const) {
      const reads = statements(template).filter((x) => x.kind === 'identity' && x.s.Sid === 'ReadinessIotQuotas');
      assert.equal(reads.length, 1);
      assert.deepEqual(array<string>(reads[0].s.Action), ['servicequotas:GetServiceQuota']);
      assert.deepEqual(
        [...array<string>(reads[0].s.Resource)].sort(),
        built.contract.names.iot_quota_codes.map((code) => `arn:aws:servicequotas:${side.region}:${side.account_id}:iotcore/${code}`).sort(),
      );
      assert.ok(reads[0].where.startsWith('OperatorReadiness'), reads[0].where);
    }
    assert.deepEqual(built.contract.names.iot_quota_codes, ['L-AEA1E176', 'L-589D5E1D', 'L-75CAB723', 'L-8C0011A3']);
  });

  it('lets drills delete only drill-named scratch databases, and failback only the failover\'s restored ones', () => {
    const { templates, built } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    const operator = statements(templates[built.dr.stackName]).filter((x) => x.kind === 'identity' && x.where.startsWith('OperatorDrctl'));
    const deletes = operator.filter((x) => array<string>(x.s.Action).some((a) => /^rds:Delete(DBInstance|DBCluster)$/.test(a)));
    assert.ok(deletes.length > 0);
    for (const x of deletes) {
      const databases = array<string>(x.s.Resource).filter((r) => /:(db|cluster):/.test(r));
      assert.ok(databases.length > 0);
      for (const r of databases) {
        const pattern = x.s.Sid.startsWith('FailbackRetireRestored') ? /:(db|cluster):[A-Za-z0-9-]+-failover-\*$/ : /:(db|cluster):[A-Za-z0-9-]+-drill-\*$/;
        assert.match(r, pattern, `${x.s.Sid} deletes ${r}`);
      }
    }
  });

  it('lets failback carry DR\'s database writes back by name only: DR snapshots and shares, primary copies, DR\'s key admits primary\'s operators via RDS', () => {
    const { templates, built } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    const { dr: drTemplate, built: sandboxBuilt } = sandbox();
    const t = built.contract.topology;
    const sid = (template: Record<string, any>, prefix: string) =>
      statements(template).filter((x) => x.kind === 'identity' && typeof x.s.Sid === 'string' && x.s.Sid.startsWith(prefix));
    const dr = templates[built.dr.stackName];
    const primary = templates[built.primary.stackName];
    // DR: the final snapshot of the failover's database, under the carry-back name, shared.
    const snapshotted = sid(dr, 'FailbackSnapshotRestored');
    assert.ok(snapshotted.length > 0);
    for (const x of snapshotted) {
      for (const r of array<string>(x.s.Resource)) {
        assert.match(r, new RegExp(`^arn:aws:rds:${t.dr.region}:${t.dr.account_id}:(db:[a-z0-9-]+-failover-\\*|(snapshot|cluster-snapshot):[a-z0-9-]+-dr-(writes|final)-\\*|cluster:[a-z0-9-]+-failover-\\*)$`), `${x.s.Sid}: ${r}`);
      }
    }
    const shares = sid(dr, 'FailbackShareDrWrites');
    assert.ok(shares.length > 0);
    for (const x of shares) for (const r of array<string>(x.s.Resource)) assert.match(r, /:(snapshot|cluster-snapshot):[a-z0-9-]+-dr-writes-\*$/, `${x.s.Sid}: ${r}`);
    // Primary: copies DR's shared snapshot (by its name only) and reads DR's key through RDS.
    const copies = sid(primary, 'FailbackCopyDrWrites');
    assert.equal(copies.length, 1);
    const copied = array<string>(copies[0].s.Resource);
    assert.ok(copied.some((r) => r.startsWith(`arn:aws:rds:${t.dr.region}:${t.dr.account_id}:snapshot:`)), copied.join(', '));
    for (const r of copied) assert.match(r, /-dr-writes-\*$/, r);
    const key = sid(primary, 'FailbackReadDrKeyViaRds');
    assert.equal(key.length, 1);
    assert.deepEqual(key[0].s.Condition, { StringEquals: { 'kms:ViaService': `rds.${t.dr.region}.amazonaws.com` } });
    // DR's snapshot key lets exactly primary's operators' role use it, via RDS.
    drTemplate.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'PrimaryCopiesDrWritesBack',
            Principal: { AWS: `arn:aws:iam::${sandboxBuilt.contract.topology.primary.account_id}:root` },
            Condition: {
              ArnEquals: { 'aws:PrincipalArn': sandboxBuilt.contract.topology.primary.role_arn },
              StringEquals: { 'kms:ViaService': `rds.${sandboxBuilt.contract.topology.dr.region}.amazonaws.com` },
            },
          }),
          Match.objectLike({ Sid: 'PrimaryGrantsRdsTheKeyForCarryBack', Action: 'kms:CreateGrant' }),
        ]),
      },
    });
  });

  it('lets the checker announce restored databases under the parameter path only, and operators read the configured secrets', () => {
    const { templates, built } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    const t = built.contract.topology;
    const identity = statements(templates[built.dr.stackName]).filter((x) => x.kind === 'identity');
    const on = (roleId: string, action: string) =>
      identity.filter((x) => x.where.startsWith(roleId) && array<string>(x.s.Action).includes(action)).flatMap((x) => array<string>(x.s.Resource));
    const parameters = `arn:aws:ssm:${t.dr.region}:${t.dr.account_id}:parameter${t.failover.database_parameter_path}/*`;
    assert.deepEqual(on('HealthCheckerDrRole', 'ssm:PutParameter'), [parameters]);
    assert.deepEqual(on('HealthCheckerDrRole', 'ssm:DeleteParameter'), [], 'the checker never withdraws one');
    assert.deepEqual(on('OperatorDrctl', 'ssm:DeleteParameter'), [parameters]);
    assert.deepEqual(on('OperatorDrctl', 'secretsmanager:DescribeSecret'), [
      'arn:aws:secretsmanager:us-west-2:222222222222:secret:fleet-aurora-creds-AbCdEf',
    ]);
    assert.deepEqual(on('OperatorDrctl', 'secretsmanager:GetSecretValue'), [], 'readiness reads no secret value');
  });

  it('lets operators read topic rules on both sides, and in DR only the metadata of their targets and roles there', () => {
    const { templates, built } = production({ operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' });
    const t = built.contract.topology;
    const on = (stack: string, action: string) =>
      statements(templates[stack])
        .filter((x) => x.kind === 'identity' && x.where.startsWith('OperatorReadinessRules') && array<string>(x.s.Action).includes(action))
        .flatMap((x) => array<string>(x.s.Resource));
    const [dr, primary] = [built.dr.stackName, built.primary.stackName];
    assert.deepEqual(on(dr, 'iot:ListTopicRules'), ['*']);
    assert.deepEqual(on(dr, 'iot:GetTopicRule'), [`arn:aws:iot:${t.dr.region}:${t.dr.account_id}:rule/*`]);
    assert.deepEqual(on(primary, 'iot:ListTopicRules'), ['*']);
    assert.deepEqual(on(primary, 'iot:GetTopicRule'), [`arn:aws:iot:${t.primary.region}:${t.primary.account_id}:rule/*`]);
    assert.deepEqual(on(dr, 'iot:ListTopicRuleDestinations'), ['*']);
    assert.deepEqual(on(dr, 'sqs:GetQueueUrl'), [`arn:aws:sqs:${t.dr.region}:${t.dr.account_id}:*`]);
    assert.deepEqual(on(dr, 'sns:GetTopicAttributes'), [`arn:aws:sns:${t.dr.region}:${t.dr.account_id}:*`]);
    assert.deepEqual(on(dr, 'dynamodb:DescribeTable'), [`arn:aws:dynamodb:${t.dr.region}:${t.dr.account_id}:table/*`]);
    assert.deepEqual(on(dr, 'iam:GetRole'), [`arn:aws:iam::${t.dr.account_id}:role/*`]);
    // Reads only, and in primary none of the targets' (DR's readiness never needs them).
    for (const action of ['iot:ListTopicRuleDestinations', 'sqs:GetQueueUrl', 'sns:GetTopicAttributes', 'dynamodb:DescribeTable', 'iam:GetRole']) assert.deepEqual(on(primary, action), [], action);
    const granted = statements(templates[dr]).filter((x) => x.kind === 'identity' && x.where.startsWith('OperatorReadinessRules')).flatMap((x) => array<string>(x.s.Action));
    for (const action of granted) assert.match(action, /^(iot:(List|Get)TopicRules?|iot:ListTopicRuleDestinations|sqs:GetQueueUrl|sns:GetTopicAttributes|dynamodb:DescribeTable|iam:GetRole)$/, action);
  });

  it('lets CloudWatch publish every alarm to its topic (scoped by alarm ARN)', () => {
    const { templates } = sandbox();
    let alarmsWithActions = 0;
    for (const template of Object.values(templates)) {
      const policies = resources(template, 'AWS::SNS::TopicPolicy');
      for (const [id, alarm] of resources(template, 'AWS::CloudWatch::Alarm')) {
        for (const action of array<any>(alarm.Properties.AlarmActions)) {
          alarmsWithActions++;
          const topic = action.Ref;
          assert.ok(topic, `${id}: alarm action ${JSON.stringify(action)} is not a topic of this stack`);
          const policy = policies.find(([, p]) => array<any>(p.Properties.Topics).some((t: any) => t.Ref === topic));
          assert.ok(policy, `${id}: topic ${topic} has no policy`);
          const allow = array<any>(policy![1].Properties.PolicyDocument.Statement).find(
            (st: any) => st.Effect === 'Allow' && st.Principal?.Service === 'cloudwatch.amazonaws.com' && array(st.Action).includes('sns:Publish'),
          );
          assert.ok(allow, `${id}: topic ${topic} does not admit CloudWatch (only ${JSON.stringify(policy![1].Properties.PolicyDocument.Statement.map((st: any) => st.Sid))})`);
          assert.match(JSON.stringify(allow.Condition?.ArnLike?.['aws:SourceArn']), /arn:aws:cloudwatch:[a-z0-9-]+:\d{12}:alarm:\*/);
        }
      }
    }
    assert.ok(alarmsWithActions >= 5, `saw ${alarmsWithActions} alarm actions`);
  });

  it('synthesizes both sides in one account and two regions: one operators\' role, no colliding aliases', () => {
    const { templates } = synth({
      contract: CONTRACTS.oneAccount,
      operatorPrincipal: 'arn:aws:iam::333333333333:role/sre',
      replicationKeyArn: 'arn:aws:kms:us-west-2:111111111111:key/00000000-0000-4000-8000-00000000000a',
    });
    const envOf: Record<string, string> = { 'IotDr-Primary': 'us-east-1', 'IotDr-PrimarySnapshotKey': 'us-west-2', 'IotDr-Dr': 'us-west-2' };
    const roleNames: string[] = [];
    const aliases: string[] = [];
    for (const [stackName, template] of Object.entries(templates)) {
      for (const [, r] of resources(template, 'AWS::IAM::Role')) if (typeof r.Properties.RoleName === 'string') roleNames.push(r.Properties.RoleName);
      for (const [, r] of resources(template, 'AWS::KMS::Alias')) aliases.push(`${envOf[stackName]} ${r.Properties.AliasName}`);
    }
    assert.equal(roleNames.filter((n) => n === 'dr-control-plane').length, 1, 'one dr-control-plane role in the one account');
    assert.equal(new Set(roleNames).size, roleNames.length, `role names collide: ${roleNames}`);
    assert.equal(new Set(aliases).size, aliases.length, `aliases collide in a region: ${aliases}`);
    // The one operators' role holds both sides' shares.
    const dr = templates['IotDr-Dr'];
    const shares = resources(dr, 'AWS::IAM::ManagedPolicy').map(([id]) => id);
    assert.ok(shares.some((id) => id.startsWith('OperatorPrimary')) && shares.some((id) => id.startsWith('OperatorDr')), shares.join(', '));
  });
});
