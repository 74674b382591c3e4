// cdk-nag acknowledgements: every finding we accept, and why. Nothing is acknowledged
// stack-wide: each acknowledgement names one resource and one finding.
//
// Wildcard findings (AwsSolutions-IAM5) are computed here the way cdk-nag computes them and
// matched against WILDCARD_REASONS; a wildcard that matches no reason stays unacknowledged,
// so synth and the tests fail until someone narrows it or writes down why it cannot be.

import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';
import { STAR_RESOURCE_ACTIONS } from './permissions';

/** Why a wildcard in an IAM resource or action is needed, by the finding it produces. */
export const WILDCARD_REASONS: Array<[RegExp, string]> = [
  [
    /^Resource::arn:aws:iot:[a-z0-9-]+:\d{12}:(cert|cacert|policy|thing|thingtype|thinggroup|rolealias|provisioningtemplate)\/\*$/,
    "IoT certificates, CAs, things, thing types, thing groups, role aliases, provisioning templates and policies are the fleet's, created at run time under ids no deploy knows; scoped to this account and region",
  ],
  [
    /^Resource::arn:aws:iot:[a-z0-9-]+:\d{12}:domainconfiguration\/\*$/,
    "drctl readiness describes every domain configuration to find the one serving [dns] record (operators' role only)",
  ],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:(snapshot|cluster-snapshot):\*$/,
    'snapshot names are made per tick by the controller (README flow C); delete and share are further limited to snapshots tagged dr:managed=true',
  ],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:(db|cluster):\*$/,
    'only Describe* (listing every manual snapshot, then filtering by the dr:* tags); creating snapshots and restoring name the protected databases exactly',
  ],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:auto-backup:\*$/,
    "replicated automated backups are named by RDS (ab-…) when replication starts; reads, and restores into the failover runbook's own database only",
  ],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:(og|pg|cluster-pg|subgrp):\*$/,
    'RestoreDB* authorizes the option, parameter and subnet groups the restore uses (the defaults unless an operator chose others)',
  ],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:(db|cluster):[A-Za-z0-9_-]+-(drill|restore)-\*$/,
    'drill scratch databases are named <protected database>-drill-<start ms> (drctl drill) and manual restores <protected database>-restore-<…> (drctl snapshot restore); restore is limited to those names, delete to the drill ones',
  ],
  [
    /^Resource::arn:aws:kms:[a-z0-9-]+:\d{12}:key\/\*$/,
    "the protected database's own key is not in the topology (it is the application's): DescribeKey to refuse aws/rds, and Decrypt/CreateGrant only through RDS (kms:ViaService), in this account and region",
  ],
  [
    /^Resource::arn:aws:iam::\d{12}:role\/\*$/,
    "iam:PassRole for role aliases (replicated from primary, their roles named at run time): this account's roles only, passed only to credentials.iot.amazonaws.com (iam:PassedToService); and iam:GetRole for drctl readiness (operators' role only), which checks that the roles the application's topic rules name exist in DR",
  ],
  [
    /^Resource::arn:aws:iot:[a-z0-9-]+:\d{12}:rule\/\*$/,
    "drctl readiness reads every topic rule on both sides (GetTopicRule, operators' role only): the rules are the application's, named by it; this account and region",
  ],
  [
    /^Resource::arn:aws:(sqs|sns):[a-z0-9-]+:\d{12}:\*$|^Resource::arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table\/\*$/,
    "drctl readiness looks up the targets of the application's topic rules in DR (GetQueueUrl, GetTopicAttributes, DescribeTable: metadata only, operators' role only): the application names them in its rules; DR's account and region",
  ],
  [
    /^Resource::arn:aws:ssm:[a-z0-9-]+:\d{12}:parameter\/[A-Za-z0-9_.\/-]+\/\*$/,
    "the failover's database parameters, one per protected database under [failover] database_parameter_path (<path>/<identifier>, and <path>/readiness for drctl readiness): that path only, in DR's account and region",
  ],
  [/^Resource::arn:aws:route53:::change\/\*$/, 'GetChange on the change ids ChangeResourceRecordSets returns'],
  [/^Resource::arn:aws:route53:::healthcheck\/\*$/, "GetHealthCheckStatus for drctl status (operators only): the health check's id is the DR stack's and the checker finds it by the alarm it follows"],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:(db|cluster):[A-Za-z0-9_-]+-failover-\*$/,
    "each failover runbook restores into a database of its own, <protected database>-failover-<runbook start ms> (and an Aurora cluster's instances <that>-1, -2, …), named at failover time so a second failover never reuses the first one's: restore, describe and CreateDBInstance are limited to those names",
  ],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:(snapshot|cluster-snapshot):[A-Za-z0-9_-]+-dr-(writes|final)-\*$/,
    "failback's snapshots of a failover's restored database are named <protected database>-dr-writes-<failback start ms> (carried back to primary) and <protected database>-dr-final-<ms> (kept when it is retired), so a resumed failback finds its own: snapshot, share, copy and retire are limited to those names",
  ],
  [
    /^Resource::arn:aws:rds::\d{12}:global-cluster:\*$/,
    "the Aurora global database is named by the secondary's membership, which RDS reports (DescribeGlobalClusters lists them); RemoveFromGlobalCluster also names the configured secondary cluster exactly",
  ],
  [
    /^Resource::arn:aws:rds:[a-z0-9-]+:\d{12}:db:[A-Za-z0-9_-]+-\*$/,
    "a promoted headless global secondary's instances are <secondary cluster>-1, -2, … (created after promotion): CreateDBInstance and describe are limited to those names",
  ],
  [/^Resource::<[A-Za-z0-9]+Logs[A-Z0-9]+\.Arn>:log-stream:\*$/, "log streams are created by Lambda per execution environment, inside the function's own log group"],
  [
    /^Action::kms:(GenerateDataKey|ReEncrypt)\*$/,
    "CDK's grantSendMessages on a KMS-encrypted queue (Lambda's failure destination, the topic rules' error action): the one key of that queue",
  ],
];

/** Actions whose only resource is "*", each with its reason (permissions.ts). */
function starReason(stack: Stack, node: CfnResource): string | undefined {
  const actions = starActions(stack, node);
  if (actions.length === 0) return undefined;
  const unexplained = actions.filter((a) => !(a in STAR_RESOURCE_ACTIONS));
  if (unexplained.length > 0) return undefined;
  return `AWS authorizes these only on "*": ${actions.map((a) => `${a} (${STAR_RESOURCE_ACTIONS[a]})`).join('; ')}`;
}

function policyDocuments(stack: Stack, node: CfnResource): Array<{ Statement?: Array<Record<string, unknown>> }> {
  if (node instanceof iam.CfnRole) {
    const policies = (stack.resolve(node.policies) ?? []) as Array<{ policyDocument: unknown }>;
    return policies.map((p) => stack.resolve(stack.resolve(p).policyDocument));
  }
  if (node instanceof iam.CfnPolicy || node instanceof iam.CfnManagedPolicy) return [stack.resolve(node.policyDocument)];
  return [];
}

const array = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** The actions of Allow statements whose resources include exactly "*". */
function starActions(stack: Stack, node: CfnResource): string[] {
  const out = new Set<string>();
  for (const doc of policyDocuments(stack, node)) {
    for (const s of doc.Statement ?? []) {
      if (s.Effect === 'Allow' && array(s.Resource).includes('*')) array(s.Action).forEach((a) => out.add(String(a)));
    }
  }
  return [...out];
}

/** cdk-nag's AwsSolutions-IAM5 findings for one IAM resource (its own algorithm). */
export function wildcardFindings(stack: Stack, node: CfnResource): string[] {
  const out = new Set<string>();
  for (const doc of policyDocuments(stack, node)) {
    for (const s of doc.Statement ?? []) {
      if (s.Effect !== 'Allow') continue;
      array(s.Action).map(String).filter((a) => a.includes('*')).forEach((a) => out.add(`Action::${a}`));
      array(s.Resource).map(flattenCfnReference).filter((r) => r.includes('*')).forEach((r) => out.add(`Resource::${r}`));
    }
  }
  return [...out];
}

function acknowledge(node: IConstruct, id: string, reason: string): void {
  Validations.of(node).acknowledge({ id, reason });
}

export function applySuppressions(stack: Stack): void {
  for (const node of stack.node.findAll()) {
    if (!(node instanceof CfnResource)) continue;
    for (const finding of wildcardFindings(stack, node)) {
      const reason =
        finding === 'Resource::*' ? starReason(stack, node) : WILDCARD_REASONS.find(([re]) => re.test(finding))?.[1];
      if (reason) acknowledge(node, `AwsSolutions-IAM5[${finding}]`, reason);
    }
  }

  // CDK's AwsCustomResource provider (it switches registry events on at deploy time).
  const provider = stack.node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
  if (provider) {
    acknowledge(
      provider,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "CDK's AwsCustomResource provider, run only during deploys; the managed policy only writes its own logs",
    );
  }

  // Queues that are themselves where failures end up.
  const failures = stack.node.tryFindChild('CaptureFailures');
  if (failures instanceof sqs.Queue) {
    acknowledge(
      failures.node.defaultChild as CfnResource,
      'AwsSolutions-SQS3',
      "this queue is a dead-letter queue: capture's Lambda failure destination, its EventBridge target DLQ and the topic rules' error action (cdk-nag recognises only redrive DLQs)",
    );
  }
}
