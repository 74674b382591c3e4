// What each function may do on each side: one role per function per side, with the calls
// that function's code makes there (read from crates/aws/src/*.rs) and nothing else.
//
// Resources are the narrowest ARNs the service supports for the action (checked against
// cfn-lint's copy of the IAM service reference). A few actions have no resource type and
// take "*": they are listed in STAR_RESOURCE_ACTIONS, and a test fails on any other.
// Keys are granted by ARN only: a key of this stack by its token, a key of another stack
// (another account or region) by the ARN its stack outputs, given as context (settings.ts).
// Not by `kms:ResourceAliases`: the KMS guide describes alias-based access without saying
// that it holds for a key of another account, and a grant that silently matches nothing
// would be found only in an outage.

import * as iam from 'aws-cdk-lib/aws-iam';
import type { Contract, Topology } from './config';
import * as names from './names';

type Side = 'primary' | 'dr';

/** Actions AWS authorizes only on "*" (no resource type in the service reference). */
export const STAR_RESOURCE_ACTIONS: Record<string, string> = {
  'iot:ListCertificates': 'listing has no resource type',
  'iot:ListAttachedPolicies': 'no resource type in the IAM reference',
  'iot:RegisterCertificate': 'the certificate does not exist before the call',
  'iot:RegisterCertificateWithoutCA': 'the certificate does not exist before the call',
  'iot:UpdateEventConfigurations': 'account-level setting, no resource',
  'iot:ListCACertificates': 'listing has no resource type (drctl readiness)',
  'iot:ListPolicies': 'listing has no resource type (drctl readiness)',
  'iot:ListDomainConfigurations': 'listing has no resource type (drctl readiness)',
  'iot:ListThingGroups': 'listing has no resource type (drctl readiness)',
  'iot:ListRoleAliases': 'listing has no resource type (drctl readiness)',
  'iot:ListProvisioningTemplates': 'listing has no resource type (drctl readiness)',
  'servicequotas:GetAWSDefaultServiceQuota': 'AWS\'s default values have no resource type (drctl readiness)',
  'iot:ListTopicRules': 'listing has no resource type (drctl readiness)',
  'iot:ListTopicRuleDestinations': 'listing has no resource type (drctl readiness: HTTP actions need an ENABLED destination in DR)',
  'route53:ListHostedZonesByName': 'listing has no resource type',
  'route53:ListHealthChecks': 'listing has no resource type',
  'cloudwatch:PutMetricData': 'scoped by the cloudwatch:namespace condition instead',
  'cloudwatch:GetMetricData': 'its only resource type is a metric dataset, which RDS\'s lag metric is not (the global secondary\'s replication lag)',
};

/** The ARNs (or tokens) of the keys and zone a stack's statements name. */
export interface LocalRefs {
  /** DR's replication key: the topic and queues (DR stack's own; context in primary). */
  readonly replicationKeyArn?: string;
  /** Primary's regional snapshot key in the DR region (context, or the config's ARN). */
  readonly regionalSnapshotKeyArn?: string;
  /** The DR account's operators' key (DR stack). */
  readonly operatorsKeyArn?: string;
  /** DR's own snapshot key (DR stack's own, or the config's ARN). */
  readonly drSnapshotKeyArn?: string;
  /** The hosted zone of `[dns] zone` (DR stack). */
  readonly hostedZoneId?: string;
}

const iot = (t: Topology, side: Side, resource: string) => `arn:aws:iot:${t[side].region}:${t[side].account_id}:${resource}`;
const rds = (region: string, account: string, resource: string) => `arn:aws:rds:${region}:${account}:${resource}`;
const table = (t: Topology, name: string) => `arn:aws:dynamodb:${t.dr.region}:${t.dr.account_id}:table/${name}`;

type KeyRef = 'replicationKeyArn' | 'regionalSnapshotKeyArn' | 'operatorsKeyArn' | 'drSnapshotKeyArn';

/** A statement on one key, by its ARN in `refs`. */
function keyStatement(refs: LocalRefs, key: KeyRef, sid: string, actions: string[], conditions: Record<string, unknown> = {}): iam.PolicyStatement {
  const arn = refs[key];
  if (!arn) throw new Error(`${sid} needs the ARN of ${key}: the stack must pass it in LocalRefs`);
  return new iam.PolicyStatement({ sid, actions, resources: [arn], conditions });
}

// ---- IoT ----

/** Capture's reads of one subject's current state (crates/aws/src/iot.rs, read half). */
function iotRead(t: Topology, side: Side, sid: string, list: boolean): iam.PolicyStatement[] {
  const statements = [
    // A certificate's things are read with ListPrincipalThingsV2 (it says how each is
    // attached); v1 stays granted for a deploy's overlap, while the old code still runs.
    new iam.PolicyStatement({
      sid: `${sid}Certificates`,
      actions: ['iot:DescribeCertificate', 'iot:ListPrincipalThings', 'iot:ListPrincipalThingsV2'],
      resources: [iot(t, side, 'cert/*')],
    }),
    new iam.PolicyStatement({ sid: `${sid}CaCertificates`, actions: ['iot:DescribeCACertificate'], resources: [iot(t, side, 'cacert/*')] }),
    new iam.PolicyStatement({ sid: `${sid}ThingTypes`, actions: ['iot:DescribeThingType'], resources: [iot(t, side, 'thingtype/*')] }),
    new iam.PolicyStatement({ sid: `${sid}Policies`, actions: ['iot:GetPolicy'], resources: [iot(t, side, 'policy/*')] }),
    new iam.PolicyStatement({
      sid: `${sid}Things`,
      actions: ['iot:DescribeThing', 'iot:ListThingPrincipals', 'iot:ListThingGroupsForThing'],
      resources: [iot(t, side, 'thing/*')],
    }),
    // crates/aws/src/iot/thing_groups.rs, read half.
    new iam.PolicyStatement({ sid: `${sid}ThingGroups`, actions: ['iot:DescribeThingGroup'], resources: [iot(t, side, 'thinggroup/*')] }),
    // crates/aws/src/iot/role_aliases.rs, read half.
    new iam.PolicyStatement({ sid: `${sid}RoleAliases`, actions: ['iot:DescribeRoleAlias'], resources: [iot(t, side, 'rolealias/*')] }),
    // crates/aws/src/iot/provisioning_templates.rs, read half.
    new iam.PolicyStatement({
      sid: `${sid}ProvisioningTemplates`,
      actions: ['iot:DescribeProvisioningTemplate'],
      resources: [iot(t, side, 'provisioningtemplate/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}Unscoped`,
      actions: ['iot:ListAttachedPolicies', ...(list ? ['iot:ListCertificates'] : [])],
      resources: ['*'],
    }),
    // The reconciler's shadow comparison (reconcile/run.rs `shadows_page`); capture reads
    // none, the documents event carries them.
    ...(list ? [shadowReads(t, side, sid)] : []),
  ];
  return statements;
}

/** A thing's shadows, classic and named, read (crates/aws/src/iot/shadows.rs). */
function shadowReads(t: Topology, side: Side, sid: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: `${sid}Shadows`,
    actions: ['iot:GetThingShadow', 'iot:ListNamedShadowsForThing'],
    resources: [iot(t, side, 'thing/*')],
  });
}

/**
 * The apply path (crates/aws/src/iot.rs, write half): register, status, links. In DR for the
 * replicator and reconciler; in primary for failback's reverse reconcile (drctl).
 */
function iotApply(t: Topology, side: Side = 'dr', sid = 'IotApply'): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: `${sid}Certificates`,
      actions: [
        'iot:DescribeCertificate', 'iot:UpdateCertificate', 'iot:DeleteCertificate',
        'iot:AttachPolicy', 'iot:DetachPolicy', 'iot:ListPrincipalThings', 'iot:ListPrincipalThingsV2',
      ],
      resources: [iot(t, side, 'cert/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}ThingLinks`,
      actions: ['iot:AttachThingPrincipal', 'iot:DetachThingPrincipal'],
      resources: [iot(t, side, 'cert/*'), iot(t, side, 'thing/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}CaCertificates`,
      actions: ['iot:DescribeCACertificate', 'iot:UpdateCACertificate'],
      resources: [iot(t, side, 'cacert/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}Policies`,
      actions: ['iot:GetPolicy', 'iot:CreatePolicy', 'iot:CreatePolicyVersion', 'iot:DeletePolicyVersion', 'iot:ListPolicyVersions'],
      resources: [iot(t, side, 'policy/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}Things`,
      actions: ['iot:DescribeThing', 'iot:CreateThing', 'iot:UpdateThing', 'iot:DeleteThing', 'iot:ListThingPrincipals'],
      resources: [iot(t, side, 'thing/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}ThingTypes`,
      actions: ['iot:CreateThingType', 'iot:DescribeThingType', 'iot:UpdateThingType', 'iot:DeprecateThingType'],
      resources: [iot(t, side, 'thingtype/*')],
    }),
    // crates/aws/src/iot/thing_groups.rs: groups (static and dynamic share the thinggroup/
    // ARN), their policies, memberships.
    new iam.PolicyStatement({
      sid: `${sid}ThingGroups`,
      actions: [
        'iot:DescribeThingGroup', 'iot:CreateThingGroup', 'iot:UpdateThingGroup', 'iot:DeleteThingGroup',
        'iot:CreateDynamicThingGroup', 'iot:UpdateDynamicThingGroup', 'iot:DeleteDynamicThingGroup',
        'iot:AttachPolicy', 'iot:DetachPolicy',
      ],
      resources: [iot(t, side, 'thinggroup/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}GroupMemberships`,
      actions: ['iot:AddThingToThingGroup', 'iot:RemoveThingFromThingGroup'],
      resources: [iot(t, side, 'thing/*'), iot(t, side, 'thinggroup/*')],
    }),
    new iam.PolicyStatement({ sid: `${sid}ThingMemberships`, actions: ['iot:ListThingGroupsForThing'], resources: [iot(t, side, 'thing/*')] }),
    // crates/aws/src/iot/shadows.rs: the data plane's shadows (classic and named).
    new iam.PolicyStatement({
      sid: `${sid}Shadows`,
      actions: ['iot:GetThingShadow', 'iot:UpdateThingShadow', 'iot:DeleteThingShadow'],
      resources: [iot(t, side, 'thing/*')],
    }),
    // crates/aws/src/iot/role_aliases.rs. Creating or updating an alias passes its role:
    // only roles of this account, only to IoT's credentials provider.
    new iam.PolicyStatement({
      sid: `${sid}RoleAliases`,
      actions: ['iot:DescribeRoleAlias', 'iot:CreateRoleAlias', 'iot:UpdateRoleAlias', 'iot:DeleteRoleAlias'],
      resources: [iot(t, side, 'rolealias/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}PassRoleAliasRoles`,
      actions: ['iam:PassRole'],
      resources: [`arn:aws:iam::${t[side].account_id}:role/*`],
      conditions: { StringEquals: { 'iam:PassedToService': 'credentials.iot.amazonaws.com' } },
    }),
    new iam.PolicyStatement({
      sid: `${sid}Unscoped`,
      actions: ['iot:RegisterCertificate', 'iot:RegisterCertificateWithoutCA', 'iot:ListAttachedPolicies', 'iot:ListCertificates'],
      resources: ['*'],
    }),
  ];
}

/**
 * Provisioning templates in DR (crates/aws/src/iot/provisioning_templates.rs): the
 * replicator's alone (the reconciler and failback do not carry templates). A template's
 * provisioning role is passed to IoT itself, which assumes it to create the body's resources.
 */
function templateApply(t: Topology, sid = 'IotApply'): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: `${sid}ProvisioningTemplates`,
      actions: [
        'iot:DescribeProvisioningTemplate', 'iot:CreateProvisioningTemplate', 'iot:UpdateProvisioningTemplate',
        'iot:DeleteProvisioningTemplate', 'iot:ListProvisioningTemplateVersions', 'iot:CreateProvisioningTemplateVersion',
        'iot:DeleteProvisioningTemplateVersion',
      ],
      resources: [iot(t, 'dr', 'provisioningtemplate/*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}PassProvisioningRoles`,
      actions: ['iam:PassRole'],
      resources: [`arn:aws:iam::${t.dr.account_id}:role/*`],
      conditions: { StringEquals: { 'iam:PassedToService': 'iot.amazonaws.com' } },
    }),
  ];
}

// ---- RDS snapshots (crates/aws/src/rds.rs) ----

/** Only snapshots the controller manages (`tag` true: `managed_snapshot_tag`). */
const managed = (tag: string, kind: 'snapshot' | 'cluster-snapshot') => ({
  StringEquals: { [`rds:${kind}-tag/${tag}`]: 'true' },
});

/** Snapshot work in one account and region: list, tag, and delete only managed snapshots. */
function snapshotsIn(c: Contract, sid: string, region: string, account: string): iam.PolicyStatement[] {
  const tag = c.names.managed_snapshot_tag;
  return [
    new iam.PolicyStatement({
      sid: `${sid}Describe`,
      actions: [
        'rds:DescribeDBSnapshots', 'rds:DescribeDBSnapshotAttributes',
        'rds:DescribeDBClusterSnapshots', 'rds:DescribeDBClusterSnapshotAttributes',
      ],
      resources: [rds(region, account, 'snapshot:*'), rds(region, account, 'cluster-snapshot:*'), rds(region, account, 'db:*'), rds(region, account, 'cluster:*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}Tag`,
      actions: ['rds:AddTagsToResource'],
      resources: [rds(region, account, 'snapshot:*'), rds(region, account, 'cluster-snapshot:*')],
    }),
    new iam.PolicyStatement({
      sid: `${sid}DeleteManaged`,
      actions: ['rds:DeleteDBSnapshot'],
      resources: [rds(region, account, 'snapshot:*')],
      conditions: managed(tag, 'snapshot'),
    }),
    new iam.PolicyStatement({
      sid: `${sid}DeleteManagedCluster`,
      actions: ['rds:DeleteDBClusterSnapshot'],
      resources: [rds(region, account, 'cluster-snapshot:*')],
      conditions: managed(tag, 'cluster-snapshot'),
    }),
  ];
}

const KEY_USE = ['kms:DescribeKey', 'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext'];
const GRANT_FOR_RDS = { Bool: { 'kms:GrantIsForAWSResource': 'true' } };

function snapshotControllerPrimary(c: Contract, refs: LocalRefs): iam.PolicyStatement[] {
  const t = c.topology;
  const p = t.primary;
  const dbs = c.snapshot_policies;
  const instances = dbs.filter((d) => d.kind === 'instance').map((d) => rds(p.region, p.account_id, `db:${d.database}`));
  const clusters = dbs.filter((d) => d.kind === 'cluster').map((d) => rds(p.region, p.account_id, `cluster:${d.database}`));
  const statements = [
    ...snapshotsIn(c, 'SourceSnapshots', p.region, p.account_id),
    ...snapshotsIn(c, 'RegionalSnapshots', t.dr.region, p.account_id),
    new iam.PolicyStatement({
      sid: 'CopyToTheDrRegion',
      actions: ['rds:CopyDBSnapshot', 'rds:CopyDBClusterSnapshot'],
      resources: [
        rds(p.region, p.account_id, 'snapshot:*'), rds(p.region, p.account_id, 'cluster-snapshot:*'),
        rds(t.dr.region, p.account_id, 'snapshot:*'), rds(t.dr.region, p.account_id, 'cluster-snapshot:*'),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'ShareManagedWithDr',
      actions: ['rds:ModifyDBSnapshotAttribute'],
      resources: [rds(t.dr.region, p.account_id, 'snapshot:*')],
      conditions: managed(c.names.managed_snapshot_tag, 'snapshot'),
    }),
    new iam.PolicyStatement({
      sid: 'ShareManagedClusterWithDr',
      actions: ['rds:ModifyDBClusterSnapshotAttribute'],
      resources: [rds(t.dr.region, p.account_id, 'cluster-snapshot:*')],
      conditions: managed(c.names.managed_snapshot_tag, 'cluster-snapshot'),
    }),
    // The regional copy is re-encrypted with primary's key in the DR region.
    keyStatement(refs, 'regionalSnapshotKeyArn', 'RegionalKeyUse', KEY_USE),
    keyStatement(refs, 'regionalSnapshotKeyArn', 'RegionalKeyGrantsForRds', ['kms:CreateGrant'], GRANT_FOR_RDS),
    // The source snapshot's key is the database's own (not in the topology): DescribeKey to
    // refuse aws/rds early (rds.rs `aws_managed`), and what RDS needs to read it for the copy.
    new iam.PolicyStatement({ sid: 'SourceKeysDescribe', actions: ['kms:DescribeKey'], resources: [names.keysIn(p.account_id, p.region)] }),
    new iam.PolicyStatement({
      sid: 'SourceKeysViaRds',
      actions: ['kms:Decrypt', 'kms:CreateGrant'],
      resources: [names.keysIn(p.account_id, p.region)],
      conditions: { StringEquals: { 'kms:ViaService': `rds.${p.region}.amazonaws.com` } },
    }),
  ];
  if (instances.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'SnapshotProtectedInstances',
        actions: ['rds:CreateDBSnapshot'],
        resources: [...instances, rds(p.region, p.account_id, 'snapshot:*')],
      }),
    );
  }
  if (clusters.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'SnapshotProtectedClusters',
        actions: ['rds:CreateDBClusterSnapshot'],
        resources: [...clusters, rds(p.region, p.account_id, 'cluster-snapshot:*')],
      }),
    );
  }
  statements.push(...keepBackupsReplicated(c));
  return statements;
}

function snapshotControllerDr(c: Contract, refs: LocalRefs): iam.PolicyStatement[] {
  const t = c.topology;
  const d = t.dr;
  return [
    ...snapshotsIn(c, 'DrSnapshots', d.region, d.account_id),
    new iam.PolicyStatement({
      sid: 'CopySharedIntoDr',
      actions: ['rds:CopyDBSnapshot', 'rds:CopyDBClusterSnapshot'],
      resources: [
        rds(d.region, t.primary.account_id, 'snapshot:*'), rds(d.region, t.primary.account_id, 'cluster-snapshot:*'),
        rds(d.region, d.account_id, 'snapshot:*'), rds(d.region, d.account_id, 'cluster-snapshot:*'),
      ],
    }),
    keyStatement(refs, 'drSnapshotKeyArn', 'DrKeyUse', KEY_USE),
    keyStatement(refs, 'drSnapshotKeyArn', 'DrKeyGrantsForRds', ['kms:CreateGrant'], GRANT_FOR_RDS),
    // Reading the shared regional copy: primary's key policy lets this role in too.
    keyStatement(refs, 'regionalSnapshotKeyArn', 'RegionalKeyRead', ['kms:DescribeKey', 'kms:Decrypt', 'kms:ReEncryptFrom']),
    keyStatement(refs, 'regionalSnapshotKeyArn', 'RegionalKeyGrantsForRds', ['kms:CreateGrant'], GRANT_FOR_RDS),
  ];
}

// ---- Flow D (crates/aws/src/failover.rs, probes.rs) ----

/**
 * RDS's replicated automated backups (backups.rs): in primary's account, in the DR region.
 * Reading them (snapshot controller, health checker); the controller keeps replication on.
 */
function replicatedBackupsRead(c: Contract): iam.PolicyStatement[] {
  const t = c.topology;
  const dbs = c.snapshot_policies.filter((d) => d.backup_replication !== null);
  if (dbs.length === 0) return [];
  const inDr = (r: string) => rds(t.dr.region, t.primary.account_id, r);
  return [
    new iam.PolicyStatement({
      sid: 'ReadReplicatedBackups',
      actions: ['rds:DescribeDBInstanceAutomatedBackups'],
      resources: [inDr('auto-backup:*'), ...dbs.map((d) => inDr(`db:${d.database}`))],
    }),
  ];
}

function keepBackupsReplicated(c: Contract): iam.PolicyStatement[] {
  const t = c.topology;
  const dbs = c.snapshot_policies.filter((d) => d.backup_replication !== null);
  if (dbs.length === 0) return [];
  return [
    ...replicatedBackupsRead(c),
    new iam.PolicyStatement({
      sid: 'ReplicateAutomatedBackups',
      actions: ['rds:StartDBInstanceAutomatedBackupsReplication'],
      resources: dbs.map((d) => rds(t.primary.region, t.primary.account_id, `db:${d.database}`)),
    }),
  ];
}

/** The databases failover runbooks restore `database` into: `<database>-failover-<ms>` (naming.rs). */
const failoverTarget = (database: string) => `${database}-failover-*`;

/** Failover's restore from replicated backups: into the runbook's own database, there. */
function restoreFromReplicatedBackups(c: Contract, refs: LocalRefs): iam.PolicyStatement[] {
  const t = c.topology;
  const dbs = c.snapshot_policies.filter((d) => d.backup_replication !== null);
  if (dbs.length === 0) return [];
  const inDr = (r: string) => rds(t.dr.region, t.primary.account_id, r);
  const group = (kind: string, names: Array<string | null | undefined>) =>
    names.some((n) => n === null || n === undefined) ? [inDr(`${kind}:*`)] : [...new Set(names)].map((n) => inDr(`${kind}:${n}`));
  return [
    ...replicatedBackupsRead(c),
    new iam.PolicyStatement({
      sid: 'RestoreReplicatedBackups',
      actions: ['rds:RestoreDBInstanceToPointInTime', 'rds:AddTagsToResource'],
      resources: [
        inDr('auto-backup:*'),
        ...dbs.map((d) => inDr(`db:${failoverTarget(d.database)}`)),
        ...group('subgrp', dbs.map((d) => d.backup_replication?.restore.subnet_group)),
        ...group('pg', dbs.map((d) => d.backup_replication?.restore.parameter_group)),
        ...group('og', dbs.map((d) => d.backup_replication?.restore.option_group)),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'DescribeRestoredFromBackups',
      actions: ['rds:DescribeDBInstances'],
      resources: dbs.map((d) => inDr(`db:${failoverTarget(d.database)}`)),
    }),
    // The replicated backups are encrypted with primary's key in the DR region.
    keyStatement(refs, 'regionalSnapshotKeyArn', 'ReplicatedBackupsKey', ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKey']),
    keyStatement(refs, 'regionalSnapshotKeyArn', 'ReplicatedBackupsKeyGrantsForRds', ['kms:CreateGrant'], GRANT_FOR_RDS),
  ];
}

/**
 * Failover's promotion of an Aurora global database's secondary (global_database.rs): in
 * primary's account, in the DR region only (detach and promote is called in the secondary's
 * own region). Reading its membership and lag, claiming it with the runbook's tags, detaching
 * it, and giving a headless one its `<cluster>-<n>` instances.
 */
function promoteGlobalSecondary(c: Contract): iam.PolicyStatement[] {
  const t = c.topology;
  const dbs = c.snapshot_policies.filter((d) => d.global_secondary !== null);
  if (dbs.length === 0) return [];
  const inDr = (r: string) => rds(t.dr.region, t.primary.account_id, r);
  const secondaries = dbs.map((d) => inDr(`cluster:${d.global_secondary?.cluster}`));
  // Global clusters' ARNs have no region; the config names the secondary, not its global
  // database, which RDS reports (DescribeGlobalClusters lists them all).
  const globalClusters = `arn:aws:rds::${t.primary.account_id}:global-cluster:*`;
  return [
    new iam.PolicyStatement({
      sid: 'ReadGlobalDatabases',
      actions: ['rds:DescribeGlobalClusters'],
      resources: [globalClusters],
    }),
    new iam.PolicyStatement({
      sid: 'PromoteGlobalSecondary',
      actions: ['rds:DescribeDBClusters', 'rds:AddTagsToResource', 'rds:RemoveFromGlobalCluster'],
      resources: [...secondaries, globalClusters],
    }),
    new iam.PolicyStatement({
      sid: 'PromotedSecondaryInstances',
      actions: ['rds:CreateDBInstance', 'rds:DescribeDBInstances', 'rds:AddTagsToResource'],
      resources: [
        ...dbs.map((d) => inDr(`db:${d.global_secondary?.cluster}-*`)),
        ...secondaries,
        // The cluster's own (or the default) parameter and subnet groups.
        inDr('pg:*'),
        inDr('subgrp:*'),
      ],
    }),
    // RDS's AuroraGlobalDBReplicationLag: GetMetricData has no resource-level permissions.
    new iam.PolicyStatement({
      sid: 'ReadGlobalSecondaryLag',
      actions: ['cloudwatch:GetMetricData'],
      resources: ['*'],
    }),
  ];
}

function healthCheckerPrimary(c: Contract, refs: LocalRefs): iam.PolicyStatement[] {
  const t = c.topology;
  const alarms = [...new Set(t.failover.probes.flatMap((p) => (p.kind === 'alarm' ? p.alarm_names : [])))];
  const statements = [...restoreFromReplicatedBackups(c, refs), ...promoteGlobalSecondary(c)];
  // No `alarm` probe, no replicated backups, no global secondary: the checker never calls
  // primary's account.
  if (alarms.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'ReadProbedAlarms',
        actions: ['cloudwatch:DescribeAlarms'],
        resources: alarms.map((a) => `arn:aws:cloudwatch:${t.primary.region}:${t.primary.account_id}:alarm:${a}`),
      }),
    );
  }
  return statements;
}

/** The failover's database parameters in DR: `<database_parameter_path>/*`. */
function databaseParameters(t: Topology): string {
  return `arn:aws:ssm:${t.dr.region}:${t.dr.account_id}:parameter${t.failover.database_parameter_path}/*`;
}

function healthCheckerDr(c: Contract, refs: LocalRefs): iam.PolicyStatement[] {
  const t = c.topology;
  const d = t.dr;
  const alarmArn = `arn:aws:cloudwatch:${d.region}:${d.account_id}:alarm:${c.serving_alarm.alarm_name}`;
  const dbs = c.snapshot_policies;
  // Each failover runbook restores into its own `<identifier>-failover-<ms>` (and a
  // cluster's instances `<identifier>-failover-<ms>-<n>`): core snapshots/naming.rs.
  const instances = dbs.filter((x) => x.kind === 'instance').map((x) => rds(d.region, d.account_id, `db:${failoverTarget(x.database)}`));
  const clusters = dbs.filter((x) => x.kind === 'cluster').map((x) => rds(d.region, d.account_id, `cluster:${failoverTarget(x.database)}`));
  const zone = refs.hostedZoneId ? `arn:aws:route53:::hostedzone/${refs.hostedZoneId}` : 'arn:aws:route53:::hostedzone/*';
  const statements = [
    new iam.PolicyStatement({
      sid: 'FailoverState',
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [table(t, t.failover.state_table)],
    }),
    new iam.PolicyStatement({ sid: 'NotifyOperators', actions: ['sns:Publish'], resources: [c.names.operator_topic_arn] }),
    keyStatement(refs, 'operatorsKeyArn', 'OperatorTopicKey', ['kms:GenerateDataKey', 'kms:Decrypt']),
    new iam.PolicyStatement({
      sid: 'PublishServingMetric',
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': c.names.metrics_namespace } },
    }),
    // PutMetricAlarm: the checker's setup check (off the failover path, while primary is
    // healthy) rewrites the alarm's definition, the same one this stack deploys. No
    // SetAlarmState: Route 53 follows the alarm's data, not its state.
    new iam.PolicyStatement({
      sid: 'DriveServingAlarm',
      actions: ['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm'],
      resources: [alarmArn],
    }),
    new iam.PolicyStatement({ sid: 'FindZoneAndHealthCheck', actions: ['route53:ListHostedZonesByName', 'route53:ListHealthChecks'], resources: ['*'] }),
    new iam.PolicyStatement({ sid: 'ReadRecords', actions: ['route53:ListResourceRecordSets'], resources: [zone] }),
    // The switched record only (the data-plane switch repairs its two failover records at
    // cold start; the dns-api switch UPSERTs it at failover). No CreateHealthCheck: this
    // stack owns the health check, and a missing one should be redeployed, not improvised.
    new iam.PolicyStatement({
      sid: 'ChangeSwitchedRecordOnly',
      actions: ['route53:ChangeResourceRecordSets'],
      resources: [zone],
      conditions: {
        'ForAllValues:StringEquals': {
          'route53:ChangeResourceRecordSetsNormalizedRecordNames': [t.dns.record],
          'route53:ChangeResourceRecordSetsRecordTypes': ['CNAME'],
        },
      },
    }),
    new iam.PolicyStatement({ sid: 'WaitForChange', actions: ['route53:GetChange'], resources: ['arn:aws:route53:::change/*'] }),
    // Failover runbook: restore each protected database from DR's newest copy.
    new iam.PolicyStatement({
      sid: 'FindRestorableSnapshots',
      actions: ['rds:DescribeDBSnapshots', 'rds:DescribeDBClusterSnapshots'],
      resources: [rds(d.region, d.account_id, 'snapshot:*'), rds(d.region, d.account_id, 'cluster-snapshot:*'), rds(d.region, d.account_id, 'db:*'), rds(d.region, d.account_id, 'cluster:*')],
    }),
    // "Database ready": where each restored database answers, for the application in DR
    // (a String parameter per database, no key: it holds no secret).
    new iam.PolicyStatement({
      sid: 'AnnounceRestoredDatabases',
      actions: ['ssm:PutParameter', 'ssm:GetParameter'],
      resources: [databaseParameters(t)],
    }),
    keyStatement(refs, 'drSnapshotKeyArn', 'RestoreWithDrKey', ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKey']),
    keyStatement(refs, 'drSnapshotKeyArn', 'RestoreGrantsForRds', ['kms:CreateGrant'], GRANT_FOR_RDS),
  ];
  // The network pieces a restore names (the application's, in DR), exactly when the config
  // names them; RDS's defaults otherwise.
  const group = (kind: string, names: Array<string | null | undefined>) =>
    names.some((n) => n === null || n === undefined) ? [rds(d.region, d.account_id, `${kind}:*`)] : [...new Set(names)].map((n) => rds(d.region, d.account_id, `${kind}:${n}`));
  const of = (kind: 'instance' | 'cluster') => dbs.filter((x) => x.kind === kind);
  if (instances.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'RestoreProtectedInstances',
        actions: ['rds:RestoreDBInstanceFromDBSnapshot', 'rds:DescribeDBInstances', 'rds:AddTagsToResource'],
        resources: [
          ...instances,
          rds(d.region, d.account_id, 'snapshot:*'),
          ...group('og', of('instance').map((x) => x.restore.option_group)),
          ...group('pg', of('instance').map((x) => x.restore.parameter_group)),
          ...group('subgrp', of('instance').map((x) => x.restore.subnet_group)),
        ],
      }),
    );
  }
  if (clusters.length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'RestoreProtectedClusters',
        actions: ['rds:RestoreDBClusterFromSnapshot', 'rds:DescribeDBClusters', 'rds:AddTagsToResource'],
        resources: [
          ...clusters,
          rds(d.region, d.account_id, 'cluster-snapshot:*'),
          ...group('cluster-pg', of('cluster').map((x) => x.restore.cluster_parameter_group)),
          ...group('subgrp', of('cluster').map((x) => x.restore.subnet_group)),
        ],
      }),
      // A restored cluster serves nothing until it has an instance: <cluster>-1, -2, …,
      // created (and read) once the cluster is available.
      new iam.PolicyStatement({
        sid: 'CreateRestoredClusterInstances',
        actions: ['rds:CreateDBInstance', 'rds:DescribeDBInstances', 'rds:AddTagsToResource'],
        resources: [
          ...of('cluster').map((x) => rds(d.region, d.account_id, `db:${failoverTarget(x.database)}`)),
          ...clusters,
          ...group('pg', of('cluster').map((x) => x.restore.parameter_group)),
          ...group('subgrp', of('cluster').map((x) => x.restore.subnet_group)),
        ],
      }),
    );
  }
  return statements;
}

/**
 * Failback with the database (crates/core/src/snapshots/carry_back.rs), `drctl failback`
 * only: a final snapshot of each database the failover restored (`<db>-failover-*`),
 * named `<db>-dr-writes-<ms>`, shared by DR with primary's account in the DR region, copied
 * there by primary's account, then copied into primary's region (the pipeline's own
 * CopyToTheDrRegion grant covers that same-account hop); then the restored database is
 * deleted with a final snapshot `<db>-dr-final-<ms>`. Only those names: the protected
 * databases and the pipeline's snapshots stay out of reach. A restore of replicated
 * backups lives in primary's account in the DR region, so its snapshot and deletion are
 * primary's.
 */
function failbackDatabases(c: Contract, side: Side): iam.PolicyStatement[] {
  const t = c.topology;
  const dbs = side === 'dr' ? c.snapshot_policies : c.snapshot_policies.filter((d) => d.backup_replication !== null);
  const statements: iam.PolicyStatement[] = [];
  const at = (account: string) => (r: string) => rds(t.dr.region, account, r);
  const here = at(t[side].account_id);
  for (const [kind, db, snap, create, remove, modify, sid] of [
    ['instance', 'db', 'snapshot', 'rds:CreateDBSnapshot', 'rds:DeleteDBInstance', 'rds:ModifyDBSnapshotAttribute', 'Instances'],
    ['cluster', 'cluster', 'cluster-snapshot', 'rds:CreateDBClusterSnapshot', 'rds:DeleteDBCluster', 'rds:ModifyDBClusterSnapshotAttribute', 'Clusters'],
  ] as const) {
    const of = dbs.filter((d) => d.kind === kind);
    if (of.length === 0) continue;
    const restored = of.map((d) => here(`${db}:${failoverTarget(d.database)}`));
    const writes = of.map((d) => here(`${snap}:${d.database}-dr-writes-*`));
    const finals = of.map((d) => here(`${snap}:${d.database}-dr-final-*`));
    statements.push(
      new iam.PolicyStatement({
        sid: `FailbackSnapshotRestored${sid}`,
        actions: [create, 'rds:AddTagsToResource'],
        resources: [...restored, ...writes, ...finals],
      }),
      // A cluster's DB instances (`<cluster>-failover-*-<n>`) go before it, without a
      // final snapshot (the cluster's holds the data).
      new iam.PolicyStatement({
        sid: `FailbackRetireRestored${sid}`,
        actions: kind === 'cluster' ? [remove, 'rds:DeleteDBInstance'] : [remove],
        resources: kind === 'cluster' ? [...restored, ...of.map((d) => here(`db:${failoverTarget(d.database)}`)), ...finals] : [...restored, ...finals],
      }),
    );
    if (side === 'dr') {
      statements.push(
        new iam.PolicyStatement({ sid: `FailbackShareDrWrites${sid}`, actions: [modify], resources: writes }),
      );
    }
  }
  if (side === 'primary') {
    // Primary's account copies DR's shared final snapshot in the DR region (the only
    // cross-account hop, same region: Aurora copies no snapshot across accounts and
    // Regions at once), reading it under DR's snapshot key through RDS only; DR's key
    // policy lets the operators' role of primary in (dr-stack.ts).
    const all = c.snapshot_policies;
    statements.push(
      new iam.PolicyStatement({
        sid: 'FailbackCopyDrWrites',
        actions: ['rds:CopyDBSnapshot', 'rds:CopyDBClusterSnapshot'],
        resources: all.flatMap((d) => [
          at(t.dr.account_id)(`${d.kind === 'cluster' ? 'cluster-snapshot' : 'snapshot'}:${d.database}-dr-writes-*`),
          at(t.primary.account_id)(`${d.kind === 'cluster' ? 'cluster-snapshot' : 'snapshot'}:${d.database}-dr-writes-*`),
        ]),
      }),
      new iam.PolicyStatement({
        sid: 'FailbackReadDrKeyViaRds',
        actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:CreateGrant'],
        resources: [names.keysIn(t.dr.account_id, t.dr.region)],
        conditions: { StringEquals: { 'kms:ViaService': `rds.${t.dr.region}.amazonaws.com` } },
      }),
    );
  }
  return statements;
}

/**
 * What operators may do with databases in DR beyond failover's restore: drills create and
 * delete `<identifier>-drill-<ms>` scratch databases (drill.rs); `drctl snapshot restore`
 * creates `<identifier>-restore-<…>` ones and may never delete them (nor anything else).
 */
function drillScratchDatabases(c: Contract): iam.PolicyStatement[] {
  const t = c.topology;
  const d = t.dr;
  const dbs = c.snapshot_policies;
  const named = (kind: 'instance' | 'cluster', suffix: string) =>
    dbs.filter((x) => x.kind === kind).map((x) => rds(d.region, d.account_id, `${kind === 'instance' ? 'db' : 'cluster'}:${x.database}-${suffix}-*`));
  const statements = [
    new iam.PolicyStatement({
      sid: 'DrillDescribeDatabases',
      actions: ['rds:DescribeDBInstances', 'rds:DescribeDBClusters'],
      resources: [rds(d.region, d.account_id, 'db:*'), rds(d.region, d.account_id, 'cluster:*')],
    }),
  ];
  const groups = ['og:*', 'pg:*', 'cluster-pg:*', 'subgrp:*'].map((g) => rds(d.region, d.account_id, g));
  for (const [kind, restore, remove, snapshots, sid] of [
    ['instance', 'rds:RestoreDBInstanceFromDBSnapshot', 'rds:DeleteDBInstance', 'snapshot:*', 'Instances'],
    ['cluster', 'rds:RestoreDBClusterFromSnapshot', 'rds:DeleteDBCluster', 'cluster-snapshot:*', 'Clusters'],
  ] as const) {
    if (named(kind, 'drill').length === 0) continue;
    statements.push(
      new iam.PolicyStatement({
        sid: `DrillScratch${sid}`,
        actions: [restore, remove, 'rds:AddTagsToResource'],
        resources: [...named(kind, 'drill'), rds(d.region, d.account_id, snapshots), ...groups],
      }),
      new iam.PolicyStatement({
        sid: `OperatorRestore${sid}`,
        actions: [restore, 'rds:AddTagsToResource'],
        resources: [...named(kind, 'restore'), rds(d.region, d.account_id, snapshots), ...groups],
      }),
    );
  }
  // A restored cluster serves through its instances `<cluster>-1`, …; a drill deletes them
  // before its cluster (RDS refuses a cluster with live members).
  const clusterMembers = (suffix: string) =>
    dbs.filter((x) => x.kind === 'cluster').map((x) => rds(d.region, d.account_id, `db:${x.database}-${suffix}-*`));
  if (clusterMembers('drill').length > 0) {
    statements.push(
      new iam.PolicyStatement({
        sid: 'DrillScratchClusterInstances',
        actions: ['rds:CreateDBInstance', 'rds:DeleteDBInstance', 'rds:AddTagsToResource'],
        resources: [...clusterMembers('drill'), ...named('cluster', 'drill'), ...groups],
      }),
      new iam.PolicyStatement({
        sid: 'OperatorRestoreClusterInstances',
        actions: ['rds:CreateDBInstance', 'rds:AddTagsToResource'],
        resources: [...clusterMembers('restore'), ...named('cluster', 'restore'), ...groups],
      }),
    );
  }
  return statements;
}

// ---- The table of functions × sides ----

/** The statements of `fn`'s role on `side` (empty for a side it never calls). */
export function sideStatements(c: Contract, fn: names.FunctionName, side: Side, refs: LocalRefs = {}): iam.PolicyStatement[] {
  const t = c.topology;
  const ledger = table(t, t.replication.ledger_table);
  switch (`${fn}/${side}`) {
    case 'cert-capture/primary':
      return [
        ...iotRead(t, 'primary', 'IotRead', false),
        // Published with primary's credentials to DR's topic (bus.rs `for_replication`).
        new iam.PolicyStatement({
          sid: 'PublishToDrTopic',
          actions: ['sns:Publish'],
          resources: [c.names.replication_topic_arn, c.names.shadow_topic_arn],
        }),
        keyStatement(refs, 'replicationKeyArn', 'DrTopicKey', ['kms:GenerateDataKey', 'kms:Decrypt'], {
          StringEquals: { 'kms:ViaService': `sns.${t.dr.region}.amazonaws.com` },
        }),
      ];
    case 'cert-replicator/dr':
      return [
        ...iotApply(t),
        ...templateApply(t),
        new iam.PolicyStatement({ sid: 'Ledger', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], resources: [ledger] }),
        // Poison messages are parked in the DLQ at once with their reason (dlq.rs
        // `SqsDeadLetterSink`); the queue itself is read and deleted by the event source mapping.
        new iam.PolicyStatement({
          sid: 'ParkPoisonInDlq',
          actions: ['sqs:GetQueueUrl', 'sqs:SendMessage'],
          resources: [c.names.dead_letter_queue_arn],
        }),
        keyStatement(refs, 'replicationKeyArn', 'DlqKey', ['kms:GenerateDataKey', 'kms:Decrypt'], {
          StringEquals: { 'kms:ViaService': `sqs.${t.dr.region}.amazonaws.com` },
        }),
      ];
    case 'reconciler/primary':
      return iotRead(t, 'primary', 'IotReadOnly', true);
    case 'reconciler/dr':
      return [
        ...iotApply(t),
        // Failback's reverse reconcile (drctl, the operators' union) reads DR's shadows as
        // its source.
        shadowReads(t, 'dr', 'ReconcileSource'),
        // The ledger, and the pass cursor kept in it (checkpoint.rs: a fenced PutItem).
        new iam.PolicyStatement({ sid: 'LedgerAndCursor', actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem'], resources: [ledger] }),
        // Repairs pause while DR serves (reconciler `repairs_allowed`).
        new iam.PolicyStatement({ sid: 'ReadFailoverState', actions: ['dynamodb:GetItem'], resources: [table(t, t.failover.state_table)] }),
      ];
    case 'snapshot-controller/primary':
      return snapshotControllerPrimary(c, refs);
    case 'snapshot-controller/dr':
      return snapshotControllerDr(c, refs);
    case 'health-checker/primary':
      return healthCheckerPrimary(c, refs);
    case 'health-checker/dr':
      return healthCheckerDr(c, refs);
    default:
      return [];
  }
}

/**
 * `drctl readiness`'s "topic rules in DR": every topic rule read on both sides, and in DR
 * what their actions deliver to and the roles IoT assumes for them (GetRole also serves
 * "role aliases in DR": the role behind each alias, its trust and session length). The rules, targets
 * and roles are the application's, named by it, not by the topology: each grant is one
 * action on one kind of resource, in DR's own account and region (metadata reads only).
 */
function readinessTopicRules(t: Topology, side: Side): iam.PolicyStatement[] {
  const { account_id: account, region } = t[side];
  const statements = [
    new iam.PolicyStatement({ sid: 'ReadinessListTopicRules', actions: ['iot:ListTopicRules'], resources: ['*'] }),
    new iam.PolicyStatement({ sid: 'ReadinessTopicRules', actions: ['iot:GetTopicRule'], resources: [iot(t, side, 'rule/*')] }),
  ];
  if (side === 'dr') {
    statements.push(
      new iam.PolicyStatement({ sid: 'ReadinessRuleDestinations', actions: ['iot:ListTopicRuleDestinations'], resources: ['*'] }),
      new iam.PolicyStatement({ sid: 'ReadinessRuleQueues', actions: ['sqs:GetQueueUrl'], resources: [`arn:aws:sqs:${region}:${account}:*`] }),
      new iam.PolicyStatement({ sid: 'ReadinessRuleTopics', actions: ['sns:GetTopicAttributes'], resources: [`arn:aws:sns:${region}:${account}:*`] }),
      new iam.PolicyStatement({ sid: 'ReadinessRuleTables', actions: ['dynamodb:DescribeTable'], resources: [`arn:aws:dynamodb:${region}:${account}:table/*`] }),
      new iam.PolicyStatement({ sid: 'ReadinessRuleRoles', actions: ['iam:GetRole'], resources: [`arn:aws:iam::${account}:role/*`] }),
    );
  }
  return statements;
}

/**
 * What `drctl` adds to the functions' permissions on a side (status, readiness, DLQ
 * replay, drills): the operators' `dr-control-plane` role gets the union.
 */
export function operatorStatements(c: Contract, side: Side, refs: LocalRefs = {}): Record<string, iam.PolicyStatement[]> {
  const t = c.topology;
  const groups: Record<string, iam.PolicyStatement[]> = {};
  for (const fn of names.FUNCTIONS) groups[fn] = sideStatements(c, fn, side, refs);
  const extras: iam.PolicyStatement[] = [
    // Failback's `drctl reconcile --direction dr-to-primary --apply` repairs primary's
    // registry from DR's (the functions only read primary's).
    ...(side === 'primary' ? iotApply(t, 'primary', 'FailbackIotApply') : []),
    // drctl readiness: the subnet group restores of replicated backups land in (primary's
    // account, DR region).
    ...(side === 'primary' && c.snapshot_policies.some((d) => d.backup_replication !== null)
      ? [
          new iam.PolicyStatement({
            sid: 'ReadinessReplicatedRestoreNetwork',
            actions: ['rds:DescribeDBSubnetGroups'],
            resources: [rds(t.dr.region, t.primary.account_id, 'subgrp:*')],
          }),
        ]
      : []),
    new iam.PolicyStatement({
      sid: 'ReadinessIotLists',
      actions: ['iot:ListCACertificates', 'iot:ListPolicies', 'iot:ListDomainConfigurations', 'iot:ListThingGroups', 'iot:ListRoleAliases', 'iot:ListProvisioningTemplates'],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      sid: 'ReadinessIotDomain',
      actions: ['iot:DescribeDomainConfiguration'],
      resources: [`arn:aws:iot:${t[side].region}:${t[side].account_id}:domainconfiguration/*`],
    }),
  ];
  if (side === 'dr') {
    const queues = [c.names.replication_queue_arn, c.names.shadow_queue_arn, c.names.dead_letter_queue_arn];
    extras.push(
      new iam.PolicyStatement({
        sid: 'ReplicationQueues',
        actions: ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:SendMessage', 'sqs:ChangeMessageVisibility'],
        resources: queues,
      }),
      keyStatement(refs, 'replicationKeyArn', 'ReplicationQueuesKey', ['kms:Decrypt', 'kms:GenerateDataKey']),
      new iam.PolicyStatement({
        sid: 'Topics',
        actions: ['sns:GetTopicAttributes'],
        resources: [c.names.replication_topic_arn, c.names.shadow_topic_arn, c.names.operator_topic_arn],
      }),
      new iam.PolicyStatement({
        sid: 'Tables',
        actions: ['dynamodb:DescribeTable', 'dynamodb:Scan'],
        resources: [table(t, t.replication.ledger_table), table(t, t.failover.state_table)],
      }),
      // drctl readiness: the network pieces restores land in exist.
      new iam.PolicyStatement({
        sid: 'ReadinessRestoreNetwork',
        actions: ['rds:DescribeDBSubnetGroups', 'rds:DescribeDBParameterGroups', 'rds:DescribeOptionGroups'],
        resources: ['subgrp:*', 'pg:*', 'og:*'].map((r) => `arn:aws:rds:${t.dr.region}:${t.dr.account_id}:${r}`),
      }),
      // drctl status: what Route 53 sees of PRIMARY's health check (not on the failover path).
      new iam.PolicyStatement({
        sid: 'Route53HealthCheckStatus',
        actions: ['route53:GetHealthCheckStatus'],
        resources: ['arn:aws:route53:::healthcheck/*'],
      }),
      new iam.PolicyStatement({
        sid: 'DrillRecord',
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [refs.hostedZoneId ? `arn:aws:route53:::hostedzone/${refs.hostedZoneId}` : 'arn:aws:route53:::hostedzone/*'],
        conditions: { 'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [t.dns.drill_record] } },
      }),
      // Drills restore into `<identifier>-drill-<ms>` (drill.rs) and delete only those.
      ...drillScratchDatabases(c),
      // Failback withdraws a retired database's parameter.
      new iam.PolicyStatement({
        sid: 'WithdrawDatabaseParameters',
        actions: ['ssm:DeleteParameter'],
        resources: [databaseParameters(t)],
      }),
    );
    // drctl readiness: the databases' credentials secrets answer in DR (metadata only).
    const secrets = t.snapshots.databases.flatMap((db) => (db.credentials_secret_arn ? [db.credentials_secret_arn] : []));
    if (secrets.length > 0) {
      extras.push(new iam.PolicyStatement({ sid: 'ReadinessCredentialsSecrets', actions: ['secretsmanager:DescribeSecret'], resources: secrets }));
    }
  }
  groups.drctl = extras;
  // `drctl readiness`: the IoT quotas the fleet's RTO rests on, in both accounts (exactly
  // the applied quotas it names; the defaults have no resource). A policy of its own: the
  // drctl one is at IAM's managed-policy size quota.
  groups.readiness = [
    new iam.PolicyStatement({
      sid: 'ReadinessIotQuotas',
      actions: ['servicequotas:GetServiceQuota'],
      resources: c.names.iot_quota_codes.map(
        (code) => `arn:aws:servicequotas:${t[side].region}:${t[side].account_id}:${c.names.iot_quota_service}/${code}`,
      ),
    }),
    new iam.PolicyStatement({
      sid: 'ReadinessDefaultQuotas',
      actions: ['servicequotas:GetAWSDefaultServiceQuota'],
      resources: ['*'],
    }),
  ];
  groups['readiness-rules'] = readinessTopicRules(t, side);
  // `drctl failback`: DR's database writes carried back, the restored databases retired
  // (a policy of its own: the drctl one is near IAM's managed-policy size quota).
  groups.failback = failbackDatabases(c, side);
  return groups;
}
