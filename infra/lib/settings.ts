// What the stacks need beyond the deployment contract: deployment choices that the Rust
// code never reads, given as CDK context (`-c key=value`, or `cdk.json`), each with a
// default that works for a synth without AWS.

import * as path from 'node:path';
import type { Node } from 'constructs';

export type Architecture = 'arm64' | 'x86_64';

export interface Settings {
  /**
   * The deployment contract (context `contract`, else `DRCTL_CONTRACT`): what `drctl
   * --config <topology.toml> config export --json` prints. No default: a deploy must name
   * its topology (lib/app.ts says how when it is missing).
   */
  readonly contractPath?: string;
  /** Lambda CPU architecture (context `lambdaArchitecture`); arm64 for real deploys. */
  readonly architecture: Architecture;
  /** Where `scripts/build-lambdas.sh` put `<fn>/bootstrap.zip` (context `lambdaAssetsDir`). */
  readonly lambdaAssetsDir: string;
  /**
   * Use `placeholder-lambda/` for functions whose zip is missing (context
   * `allowPlaceholderAssets=true`): for tests and synth only; a deployed placeholder fails
   * every invocation, loudly.
   */
  readonly allowPlaceholderAssets: boolean;
  /** `create` a CloudTrail trail in primary, or rely on an `existing` (e.g. organization) one. */
  readonly cloudTrail: 'create' | 'existing';
  /** Who may assume the `dr-control-plane` roles (`drctl`); unset: those roles are not created. */
  readonly operatorPrincipal?: string;
  /** ACM certificates for the custom domain (one per region); unset: no IoT domain configuration. */
  readonly primaryCertificateArn?: string;
  readonly drCertificateArn?: string;
  /** An existing public hosted zone for `[dns] zone` in the DR account (context `hostedZoneId`). */
  readonly hostedZoneId?: string;
  /**
   * Create a new public hosted zone for `[dns] zone` (context `createHostedZone=true`).
   * Default: look up the existing one (`HostedZone.fromLookup`): a new zone for the whole
   * apex is not delegated to by anyone until its NS records are published upstream, so
   * creating one by default would answer for nobody.
   */
  readonly createHostedZone: boolean;
  /**
   * Keys of another stack, by ARN: IAM grants on a key of another account or region need
   * its ARN (a key id is random; `kms:ResourceAliases` is not documented across accounts).
   * `replicationKeyArn`: the DR stack's ReplicationKey (output `ReplicationKeyArn`), for
   * capture's role in primary. `regionalSnapshotKeyArn`: the IotDr-PrimarySnapshotKey stack's
   * key (output `RegionalSnapshotKeyArn`), when `[snapshots] regional_kms_key` is an alias.
   * Missing: the stacks that need them refuse to deploy (an error annotation).
   */
  readonly replicationKeyArn?: string;
  readonly regionalSnapshotKeyArn?: string;
  /** Operators' e-mail for the alarm topics (optional). */
  readonly operatorEmail?: string;
  /** Alarm: oldest replication message older than this. */
  readonly oldestMessageAlarmSeconds: number;
  /** Alarm: RPO over target; default the database's interval plus an hour for the copies. */
  readonly rpoTargetMinutes?: number;
  /** How often the reconciler runs (its pass is checkpointed across invocations). */
  readonly reconcileEveryMinutes: number;
}

/** The infra directory (where `package.json` is): this file runs as `dist/lib/settings.js`. */
export const INFRA_DIR = path.resolve(__dirname, '..', '..');

export function readSettings(node: Node): Settings {
  const ctx = (key: string): string | undefined => {
    const v = node.tryGetContext(key);
    return v === undefined || v === null || v === '' ? undefined : String(v);
  };
  const num = (key: string, def: number): number => {
    const v = ctx(key);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`context ${key}: expected a positive number, got ${JSON.stringify(v)}`);
    return n;
  };
  const architecture = (ctx('lambdaArchitecture') ?? 'arm64') as Architecture;
  if (architecture !== 'arm64' && architecture !== 'x86_64') {
    throw new Error(`context lambdaArchitecture: expected arm64 or x86_64, got ${JSON.stringify(architecture)}`);
  }
  const cloudTrail = (ctx('cloudTrail') ?? 'create') as Settings['cloudTrail'];
  if (cloudTrail !== 'create' && cloudTrail !== 'existing') {
    throw new Error(`context cloudTrail: expected create or existing, got ${JSON.stringify(cloudTrail)}`);
  }
  if (ctx('config') !== undefined) {
    throw new Error(
      'context config: the CDK app reads no TOML; pass the deployment contract instead: drctl --config <topology.toml> config export --json > contract.json, then -c contract=contract.json',
    );
  }
  const contract = ctx('contract') ?? process.env.DRCTL_CONTRACT;
  const rpo = ctx('rpoTargetMinutes');
  return {
    contractPath: contract === undefined || contract === '-' ? contract : path.resolve(contract),
    architecture,
    lambdaAssetsDir: path.resolve(INFRA_DIR, ctx('lambdaAssetsDir') ?? path.join('lambda-assets', architecture)),
    allowPlaceholderAssets: ctx('allowPlaceholderAssets') === 'true',
    cloudTrail,
    operatorPrincipal: ctx('operatorPrincipal'),
    primaryCertificateArn: ctx('primaryCertificateArn'),
    drCertificateArn: ctx('drCertificateArn'),
    hostedZoneId: ctx('hostedZoneId'),
    createHostedZone: ctx('createHostedZone') === 'true',
    replicationKeyArn: ctx('replicationKeyArn'),
    regionalSnapshotKeyArn: ctx('regionalSnapshotKeyArn'),
    operatorEmail: ctx('operatorEmail'),
    oldestMessageAlarmSeconds: num('oldestMessageAlarmSeconds', 300),
    rpoTargetMinutes: rpo === undefined ? undefined : num('rpoTargetMinutes', 0),
    reconcileEveryMinutes: num('reconcileEveryMinutes', 15),
  };
}
