// Every name and ARN that one account needs of the other, derived from the topology alone.
// CloudFormation exports cannot cross accounts, so both stacks compute the same strings;
// the first block mirrors `crates/aws/src/names.rs` and `crates/aws/src/failover.rs`
// exactly (the Lambdas derive them at run time), the rest are this app's own choices.

import type { Topology } from './config';

/** The replication topic and queues are FIFO; AWS requires the suffix (names.rs). */
export const FIFO_SUFFIX = '.fifo';

// ---- Mirrors of the Rust code: change both or neither. ----

export const replicationTopicName = (t: Topology) => `${t.replication.topic}${FIFO_SUFFIX}`;
export const replicationTopicArn = (t: Topology) =>
  `arn:aws:sns:${t.dr.region}:${t.dr.accountId}:${replicationTopicName(t)}`;
export const replicationQueueName = (t: Topology) => `${t.replication.queue}${FIFO_SUFFIX}`;
export const deadLetterQueueName = (t: Topology) => `${t.replication.deadLetterQueue}${FIFO_SUFFIX}`;
export const drQueueArn = (t: Topology, queueName: string) =>
  `arn:aws:sqs:${t.dr.region}:${t.dr.accountId}:${queueName}`;
/** failover.rs `operator_topic_arn`: a standard (not FIFO) topic. */
export const operatorTopicArn = (t: Topology) =>
  `arn:aws:sns:${t.dr.region}:${t.dr.accountId}:${t.failover.operatorTopic}`;
/** failover.rs `serving_alarm_name`. */
export const servingAlarmName = (t: Topology) => `iot-dr-primary-serving-${t.dns.record}`;
/** failover.rs: the metric the data-plane switch publishes, and where. */
export const SERVING_METRIC = { namespace: 'IotDr', metricName: 'PrimaryServing', dimension: 'Record' } as const;
/** metrics.rs: the namespace of every EMF metric; each line has the `Function` dimension. */
export const METRICS_NAMESPACE = 'IotDr';
/** provision/failover.rs `ensure_domain_configuration`. */
export const domainConfigurationName = (t: Topology) => `iot-dr-${t.dns.record.replace(/\./g, '-')}`;
/** provision/replication.rs and provision/failover.rs key aliases. */
export const REPLICATION_KEY_ALIAS = 'alias/dr-replication';
export const OPERATORS_KEY_ALIAS = 'alias/dr-operators';
/** Table key attributes (provision/replication.rs `ensure_table` callers). */
export const LEDGER_KEY = 'subject';
export const STATE_KEY = 'id';
/** provision/replication.rs: redeliveries before a message is dead-lettered. */
export const MAX_RECEIVE_COUNT = 5;
/** The tag that marks snapshots the controller manages (README, flow C). */
export const MANAGED_TAG = 'dr:managed';

// ---- This app's own names (both stacks compute them; nothing in Rust depends on them). ----

/** The five Lambdas, by crate name under `lambdas/`. */
export const FUNCTIONS = ['cert-capture', 'cert-replicator', 'reconciler', 'snapshot-controller', 'health-checker'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export const functionName = (fn: FunctionName) => `iot-dr-${fn}`;

/** A function's execution role, in the account the function runs in. */
export const executionRoleName = (fn: FunctionName) => `iot-dr-${fn}-exec`;

/** The role a function assumes for one side (`DRCTL__PRIMARY__ROLE_ARN` / `DRCTL__DR__ROLE_ARN`). */
export const sideRoleName = (fn: FunctionName, side: 'primary' | 'dr') => `iot-dr-${fn}-${side}`;

export const roleArn = (account: string, name: string) => `arn:aws:iam::${account}:role/${name}`;

/** Where each function runs. */
export const HOME: Record<FunctionName, 'primary' | 'dr'> = {
  'cert-capture': 'primary',
  'cert-replicator': 'dr',
  reconciler: 'dr',
  'snapshot-controller': 'dr',
  'health-checker': 'dr',
};

/** Which sides a function really calls; the session layer assumes the other lazily, i.e. never. */
export const SIDES_USED: Record<FunctionName, ReadonlyArray<'primary' | 'dr'>> = {
  'cert-capture': ['primary'], // reads primary's registry; publishes to DR's topic with primary's role
  'cert-replicator': ['dr'], // "the apply never calls primary"
  reconciler: ['primary', 'dr'],
  'snapshot-controller': ['primary', 'dr'],
  'health-checker': ['primary', 'dr'], // primary: the `alarm` probe's DescribeAlarms
};

/** The ARN of a function's role for `side`, in that side's account. */
export function sideRoleArn(t: Topology, fn: FunctionName, side: 'primary' | 'dr'): string {
  return roleArn(t[side].accountId, sideRoleName(fn, side));
}

export function executionRoleArn(t: Topology, fn: FunctionName): string {
  return roleArn(t[HOME[fn]].accountId, executionRoleName(fn));
}

/** The capture's role in primary: the only principal the DR topic lets publish. */
export const captureRoleArn = (t: Topology) => sideRoleArn(t, 'cert-capture', 'primary');

/** A KMS key ARN pattern for `alias` in an account and region (used with `kms:ResourceAliases`). */
export const keysIn = (account: string, region: string) => `arn:aws:kms:${region}:${account}:key/*`;

/** Stack names. */
export const STACKS = {
  primary: 'IotDr-Primary',
  primarySnapshotKey: 'IotDr-PrimarySnapshotKey',
  dr: 'IotDr-Dr',
} as const;
