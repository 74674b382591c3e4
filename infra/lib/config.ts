// The topology TOML, parsed the way `crates/core/src/topology.rs` parses it: the same
// sections, keys, defaults and cross-field rules, and errors that name the field. The CDK
// app and the Lambdas read the same file, so a name derived here is the name the Rust code
// derives at run time.
//
// What is deliberately not mirrored: `DRCTL__…` environment overrides (the file is the
// record of what is deployed; a Lambda still honours overrides the stacks set on it) and the
// probe details the health checker validates itself at cold start.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';

export type FlipMode = 'data-plane' | 'dns-api';
export type DatabaseKind = 'instance' | 'cluster';

export interface SideConfig {
  readonly accountId: string;
  readonly region: string;
  readonly roleArn: string;
}

export interface ProbeConfig {
  readonly kind: 'tls' | 'mqtt' | 'https' | 'alarm';
  /** Alarm names of an `alarm` probe (in primary). */
  readonly alarmNames: string[];
  /** Files a probe reads at run time (`ca_file`, `client_cert_file`, `client_key_file`). */
  readonly files: string[];
}

export interface DatabaseConfig {
  readonly identifier: string;
  readonly kind: DatabaseKind;
  readonly intervalMinutes: number;
  readonly keep: number;
  readonly maxAgeHours: number;
  /** Where restores land in DR (crates/core/src/topology.rs DatabaseConfig). */
  readonly subnetGroup?: string;
  readonly parameterGroup?: string;
  readonly clusterParameterGroup?: string;
  readonly optionGroup?: string;
  /** RDS cross-Region automated backup replication into the DR region (primary's account). */
  readonly backupReplication?: {
    readonly subnetGroup: string;
    readonly parameterGroup?: string;
    readonly optionGroup?: string;
  };
}

export interface Topology {
  readonly primary: SideConfig;
  readonly dr: SideConfig;
  readonly replication: {
    readonly topic: string;
    readonly queue: string;
    readonly deadLetterQueue: string;
    readonly ledgerTable: string;
  };
  readonly failover: {
    readonly stateTable: string;
    readonly operatorTopic: string;
    readonly flip: FlipMode;
    readonly roundIntervalSeconds: number;
    readonly roundsPerInvocation: number;
    readonly failbackSettleSeconds: number;
    readonly probes: ProbeConfig[];
  };
  readonly dns: {
    readonly zone: string;
    readonly record: string;
    readonly drillRecord: string;
    readonly primaryTarget: string;
    readonly drTarget: string;
    readonly ttlSeconds: number;
  };
  readonly reconcile: { readonly maxCallsPerSecond: number; readonly pageSize: number; readonly statusPassEveryMinutes: number };
  readonly snapshots: {
    readonly regionalKmsKey: string;
    readonly drKmsKey: string;
    readonly intervalMinutes: number;
    readonly databases: DatabaseConfig[];
  };
  /** Whether the file has a `[sandbox]` section (stripped from what the Lambdas get). */
  readonly hasSandbox: boolean;
}

/** A config error that names the file and the field, like the Rust `ConfigError::Field`. */
export class ConfigError extends Error {
  constructor(
    readonly origin: string,
    readonly field: string,
    message: string,
  ) {
    super(`${origin}: ${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Table = Record<string, unknown>;

// Every key the Rust structs accept (they are `deny_unknown_fields`): a typo must fail here
// at synth time, not in a Lambda's cold start after deploy.
const KEYS: Record<string, string[]> = {
  '': ['primary', 'dr', 'replication', 'failover', 'dns', 'snapshots', 'reconcile', 'drill', 'timeouts', 'sandbox'],
  primary: ['account_id', 'region', 'role_arn'],
  dr: ['account_id', 'region', 'role_arn'],
  replication: ['topic', 'queue', 'dead_letter_queue', 'ledger_table', 'register_per_second'],
  failover: [
    'state_table', 'operator_topic', 'flip', 'round_interval_seconds', 'rounds_per_invocation',
    'failure_threshold', 'recovery_threshold', 'quorum', 'min_dwell_seconds',
    'failback_after_healthy_seconds', 'failback_settle_seconds', 'probes',
  ],
  dns: ['zone', 'record', 'drill_record', 'primary_target', 'dr_target', 'ttl_seconds'],
  reconcile: ['max_calls_per_second', 'page_size', 'max_pages_per_invocation', 'status_pass_every_minutes'],
  snapshots: ['regional_kms_key', 'dr_kms_key', 'interval_minutes', 'keep', 'max_age_hours', 'databases'],
  'snapshots.databases': [
    'identifier', 'kind', 'interval_minutes', 'keep', 'max_age_hours', 'subnet_group', 'security_group_ids',
    'parameter_group', 'cluster_parameter_group', 'option_group', 'instance_class', 'multi_az', 'deletion_protection',
    'instances', 'backup_replication',
  ],
  'snapshots.databases.backup_replication': ['retention_days', 'subnet_group', 'security_group_ids', 'parameter_group', 'option_group'],
  drill: ['canary'],
  // crates/core/src/timeouts.rs CALLERS, with `_` for `-`.
  timeouts: ['drctl', 'cert_capture', 'cert_replicator', 'reconciler', 'snapshot_controller', 'health_checker', 'sandbox'],
  sandbox: ['endpoint', 'world', 'principal'],
};

const TIMEOUT_KEYS = ['connect_ms', 'attempt_ms', 'operation_ms', 'max_attempts'];
for (const caller of KEYS.timeouts) KEYS[`timeouts.${caller}`] = TIMEOUT_KEYS;

const PROBE_KEYS: Record<string, string[]> = {
  tls: ['kind', 'host', 'port', 'server_name', 'alpn', 'ca_file', 'timeout_ms'],
  mqtt: ['kind', 'host', 'port', 'server_name', 'alpn', 'ca_file', 'client_cert_file', 'client_key_file', 'client_id', 'timeout_ms'],
  https: ['kind', 'url', 'server_name', 'ca_file', 'timeout_ms'],
  alarm: ['kind', 'alarm_names', 'timeout_ms'],
};

/** Read and parse a topology file. */
export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config file ${file}: ${(e as Error).message}; pass -c config=<path> or set DRCTL_CONFIG`);
  }
  return parseTopology(text, path.relative(process.cwd(), file) || file);
}

/** Parse topology text; `origin` names it in errors. */
export function parseTopology(text: string, origin: string): Topology {
  let root: Table;
  try {
    root = parseToml(text) as Table;
  } catch (e) {
    throw new Error(`${origin} is not valid TOML: ${(e as Error).message}`);
  }
  const fail = (field: string, message: string): never => {
    throw new ConfigError(origin, field, message);
  };

  const table = (parent: Table, key: string, prefix: string, required: boolean): Table => {
    const field = prefix ? `${prefix}.${key}` : key;
    const value = parent[key];
    if (value === undefined) {
      if (required) fail(field, `missing section [${field}]`);
      return {};
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'expected a table');
    checkKeys(value as Table, KEYS[field.replace(/\[\d+\]/g, '')] ?? [], field, fail);
    return value as Table;
  };
  checkKeys(root, KEYS[''], '', fail);

  const str = (t: Table, key: string, field: string, def?: string): string => {
    const v = t[key];
    if (v === undefined) {
      if (def === undefined) fail(field, `missing field \`${key}\``);
      return def as string;
    }
    if (typeof v !== 'string') fail(field, `expected a string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const int = (t: Table, key: string, field: string, def: number, min = 0): number => {
    const v = t[key] ?? def;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
      fail(field, `expected a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${JSON.stringify(v)}`);
    }
    return n as number;
  };
  const name = (t: Table, key: string, field: string, def: string): string => {
    const v = str(t, key, field, def);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(v)) {
      fail(field, `${JSON.stringify(v)} is not a valid resource name: expected 1-80 characters of letters, digits, '-' and '_'`);
    }
    return v;
  };
  const domain = (t: Table, key: string, field: string, def: string): string => {
    const v = str(t, key, field, def).replace(/\.$/, '').toLowerCase();
    if (!/^(?=.{1,253}$)([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?)+$/.test(v)) {
      fail(field, `${JSON.stringify(v)} is not a valid DNS name`);
    }
    return v;
  };

  const side = (key: 'primary' | 'dr'): SideConfig => {
    const t = table(root, key, '', true);
    const accountId = str(t, 'account_id', `${key}.account_id`);
    if (!/^\d{12}$/.test(accountId)) {
      fail(`${key}.account_id`, `${JSON.stringify(accountId)} is not a valid account id: expected exactly 12 digits`);
    }
    const region = str(t, 'region', `${key}.region`);
    if (!/^[a-z]{2}(-[a-z]+)+-([1-9]|1\d|20)$/.test(region)) {
      fail(`${key}.region`, `${JSON.stringify(region)} is not a valid region`);
    }
    const roleArn = str(t, 'role_arn', `${key}.role_arn`);
    const m = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role\/(?:[^:]*\/)?([A-Za-z0-9+=,.@_-]{1,64})$/.exec(roleArn);
    if (!m) fail(`${key}.role_arn`, `${JSON.stringify(roleArn)} is not a valid role ARN: expected arn:<partition>:iam::<12-digit account>:role/<name>`);
    if (m![2] !== accountId) {
      fail(`${key}.role_arn`, `the role belongs to account ${m![2]} but ${key}.account_id is ${accountId}; use a role in the ${key} account`);
    }
    return { accountId, region, roleArn };
  };

  const primary = side('primary');
  const dr = side('dr');
  if (primary.accountId === dr.accountId && primary.region === dr.region) {
    fail('dr', `primary and DR are both account ${dr.accountId} in ${dr.region}; DR must be another account or at least another region`);
  }

  const rep = table(root, 'replication', '', false);
  const replication = {
    topic: name(rep, 'topic', 'replication.topic', 'dr-cert-replication'),
    queue: name(rep, 'queue', 'replication.queue', 'dr-cert-replication'),
    deadLetterQueue: name(rep, 'dead_letter_queue', 'replication.dead_letter_queue', 'dr-cert-replication-dlq'),
    ledgerTable: name(rep, 'ledger_table', 'replication.ledger_table', 'dr-cert-ledger'),
  };

  const fo = table(root, 'failover', '', false);
  const flip = str(fo, 'flip', 'failover.flip', 'data-plane');
  if (flip !== 'data-plane' && flip !== 'dns-api') fail('failover.flip', `unknown variant ${JSON.stringify(flip)}, expected \`data-plane\` or \`dns-api\``);
  const rawProbes = fo.probes ?? [];
  if (!Array.isArray(rawProbes)) fail('failover.probes', 'expected an array of tables ([[failover.probes]])');
  const probes = (rawProbes as Table[]).map((p, i) => probe(p, `failover.probes[${i}]`, fail));
  const failover = {
    stateTable: name(fo, 'state_table', 'failover.state_table', 'dr-failover-state'),
    operatorTopic: name(fo, 'operator_topic', 'failover.operator_topic', 'dr-operators'),
    flip: flip as FlipMode,
    roundIntervalSeconds: int(fo, 'round_interval_seconds', 'failover.round_interval_seconds', 10),
    roundsPerInvocation: int(fo, 'rounds_per_invocation', 'failover.rounds_per_invocation', 6, 1),
    failbackSettleSeconds: int(fo, 'failback_settle_seconds', 'failover.failback_settle_seconds', 70),
    probes,
  };
  for (const key of ['failure_threshold', 'recovery_threshold']) int(fo, key, `failover.${key}`, 3, 1);

  const d = table(root, 'dns', '', false);
  const dns = {
    zone: domain(d, 'zone', 'dns.zone', 'example.com'),
    record: domain(d, 'record', 'dns.record', 'iot.example.com'),
    drillRecord: domain(d, 'drill_record', 'dns.drill_record', 'drill.iot.example.com'),
    primaryTarget: domain(d, 'primary_target', 'dns.primary_target', 'primary.iot.example.com'),
    drTarget: domain(d, 'dr_target', 'dns.dr_target', 'dr.iot.example.com'),
    ttlSeconds: int(d, 'ttl_seconds', 'dns.ttl_seconds', 30, 1),
  };
  for (const [field, record] of [['dns.record', dns.record], ['dns.drill_record', dns.drillRecord]]) {
    if (record !== dns.zone && !record.endsWith(`.${dns.zone}`)) fail(field, `${record} is not inside the hosted zone ${dns.zone}`);
  }
  if (dns.primaryTarget === dns.drTarget) fail('dns.dr_target', 'must differ from dns.primary_target, or failover would move nothing');
  if (dns.record === dns.drillRecord) fail('dns.drill_record', 'must differ from dns.record, or a drill would flip production routing');

  const rc = table(root, 'reconcile', '', false);
  const rate = rc.max_calls_per_second ?? 10.0;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    fail('reconcile.max_calls_per_second', 'must be a positive number of calls per second');
  }
  const pageSize = int(rc, 'page_size', 'reconcile.page_size', 250);
  if (pageSize < 1 || pageSize > 250) fail('reconcile.page_size', "must be 1 to 250 (ListCertificates' largest page)");
  const statusPassEveryMinutes = int(rc, 'status_pass_every_minutes', 'reconcile.status_pass_every_minutes', 60);
  if (statusPassEveryMinutes < 1 || statusPassEveryMinutes > 1440) {
    fail('reconcile.status_pass_every_minutes', 'must be 1 to 1440 (at least one status pass a day)');
  }

  const sn = table(root, 'snapshots', '', false);
  const interval = int(sn, 'interval_minutes', 'snapshots.interval_minutes', 240, 1);
  const keep = int(sn, 'keep', 'snapshots.keep', 7);
  const maxAge = int(sn, 'max_age_hours', 'snapshots.max_age_hours', 168);
  const rawDbs = sn.databases ?? [];
  if (!Array.isArray(rawDbs)) fail('snapshots.databases', 'expected an array of tables ([[snapshots.databases]])');
  const databases = (rawDbs as Table[]).map((db, i): DatabaseConfig => {
    const field = `snapshots.databases[${i}]`;
    checkKeys(db, KEYS['snapshots.databases'], field, fail);
    const kind = str(db, 'kind', `${field}.kind`);
    if (kind !== 'instance' && kind !== 'cluster') fail(`${field}.kind`, `unknown variant ${JSON.stringify(kind)}, expected \`instance\` or \`cluster\``);
    const optionalName = (key: string) => (db[key] === undefined ? undefined : name(db, key, `${field}.${key}`, ''));
    const groups = db.security_group_ids ?? [];
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || !g.startsWith('sg-'))) {
      fail(`${field}.security_group_ids`, 'expected security group ids (sg-…)');
    }
    if (db.instances !== undefined) int(db, 'instances', `${field}.instances`, 1, 1);
    let backupReplication: DatabaseConfig['backupReplication'];
    if (db.backup_replication !== undefined) {
      const r = table(db, 'backup_replication', field, true);
      const rf = `${field}.backup_replication`;
      checkKeys(r, KEYS['snapshots.databases.backup_replication'], rf, fail);
      if (kind !== 'instance') fail(rf, 'RDS replicates automated backups across regions for DB instances only');
      const days = int(r, 'retention_days', `${rf}.retention_days`, 7, 1);
      if (days > 35) fail(`${rf}.retention_days`, `${days} is outside RDS's 1–35 days`);
      const rGroups = r.security_group_ids ?? [];
      if (!Array.isArray(rGroups) || rGroups.some((g) => typeof g !== 'string' || !g.startsWith('sg-'))) {
        fail(`${rf}.security_group_ids`, 'expected security group ids (sg-…)');
      }
      backupReplication = {
        subnetGroup: name(r, 'subnet_group', `${rf}.subnet_group`, undefined as unknown as string),
        parameterGroup: r.parameter_group === undefined ? undefined : name(r, 'parameter_group', `${rf}.parameter_group`, ''),
        optionGroup: r.option_group === undefined ? undefined : name(r, 'option_group', `${rf}.option_group`, ''),
      };
    }
    return {
      identifier: name(db, 'identifier', `${field}.identifier`, undefined as unknown as string),
      kind: kind as DatabaseKind,
      intervalMinutes: int(db, 'interval_minutes', `${field}.interval_minutes`, interval, 1),
      keep: int(db, 'keep', `${field}.keep`, keep),
      maxAgeHours: int(db, 'max_age_hours', `${field}.max_age_hours`, maxAge),
      subnetGroup: optionalName('subnet_group'),
      parameterGroup: optionalName('parameter_group'),
      clusterParameterGroup: optionalName('cluster_parameter_group'),
      optionGroup: optionalName('option_group'),
      backupReplication,
    };
  });
  const snapshots = {
    regionalKmsKey: str(sn, 'regional_kms_key', 'snapshots.regional_kms_key', 'alias/dr-snapshots'),
    drKmsKey: str(sn, 'dr_kms_key', 'snapshots.dr_kms_key', 'alias/dr-snapshots'),
    intervalMinutes: interval,
    databases,
  };
  for (const [field, key, side] of [
    ['snapshots.regional_kms_key', snapshots.regionalKmsKey, primary],
    ['snapshots.dr_kms_key', snapshots.drKmsKey, dr],
  ] as const) {
    if (!isAlias(key) && !keyArnIn(key, side.accountId, dr.region)) {
      fail(field, `${JSON.stringify(key)}: expected alias/<name>, or a key ARN in account ${side.accountId}, region ${dr.region}`);
    }
  }

  if (primary.accountId === dr.accountId && isAlias(snapshots.regionalKmsKey) && snapshots.regionalKmsKey === snapshots.drKmsKey) {
    fail(
      'snapshots.dr_kms_key',
      `both sides are account ${dr.accountId}, so the regional key and DR's key live in one account and region (${dr.region}), where ${snapshots.drKmsKey} can name only one key: give DR's key another alias`,
    );
  }

  const timeouts = table(root, 'timeouts', '', false);
  for (const caller of Object.keys(timeouts)) {
    const t = table(timeouts, caller, 'timeouts', false);
    for (const key of TIMEOUT_KEYS) if (t[key] !== undefined) int(t, key, `timeouts.${caller}.${key}`, 1, 1);
  }

  table(root, 'drill', '', false);
  const sandbox = table(root, 'sandbox', '', false);

  return {
    primary,
    dr,
    replication,
    failover,
    dns,
    reconcile: { maxCallsPerSecond: rate as number, pageSize, statusPassEveryMinutes },
    snapshots,
    hasSandbox: Object.keys(sandbox).length > 0 || root.sandbox !== undefined,
  };
}

function probe(p: Table, field: string, fail: (f: string, m: string) => never): ProbeConfig {
  const kind = p.kind;
  if (typeof kind !== 'string' || !(kind in PROBE_KEYS)) {
    return fail(`${field}.kind`, `expected one of ${Object.keys(PROBE_KEYS).join(', ')}`);
  }
  checkKeys(p, PROBE_KEYS[kind], field, fail);
  const alarmNames = Array.isArray(p.alarm_names) ? p.alarm_names.map(String) : [];
  const files = ['ca_file', 'client_cert_file', 'client_key_file']
    .map((k) => p[k])
    .filter((v): v is string => typeof v === 'string');
  return { kind: kind as ProbeConfig['kind'], alarmNames, files };
}

function checkKeys(t: Table, allowed: string[], field: string, fail: (f: string, m: string) => never): void {
  for (const key of Object.keys(t)) {
    if (!allowed.includes(key)) {
      fail(field ? `${field}.${key}` : key, `unknown field \`${key}\`, expected one of ${allowed.map((k) => `\`${k}\``).join(', ')}`);
    }
  }
}

/** `alias/<name>` rather than a key ARN or id. */
export function isAlias(key: string): boolean {
  return /^alias\/[A-Za-z0-9/_-]+$/.test(key) && !key.startsWith('alias/aws/');
}

function keyArnIn(key: string, account: string, region: string): boolean {
  return new RegExp(`^arn:aws[a-z-]*:kms:${region}:${account}:key/[a-f0-9-]+$`).test(key);
}

/**
 * The config text a Lambda gets: the file as written, without its `[sandbox]` section (which
 * would point every SDK client at a loopback emulator). Checked by parsing both: everything
 * else must be unchanged.
 */
export function stripSandbox(text: string): string {
  const out: string[] = [];
  let inSandbox = false;
  for (const line of text.split('\n')) {
    const header = /^\s*\[\[?\s*([A-Za-z0-9_."-]+)\s*\]\]?/.exec(line);
    if (header) inSandbox = header[1] === 'sandbox' || header[1].startsWith('sandbox.');
    if (!inSandbox) out.push(line);
  }
  const stripped = out.join('\n');
  const before = parseToml(text) as Table;
  const after = parseToml(stripped) as Table;
  delete before.sandbox;
  if (JSON.stringify(before, replacer) !== JSON.stringify(after, replacer) || 'sandbox' in after) {
    throw new Error('could not strip [sandbox] from the config by lines (is it written as dotted keys?); move it into its own [sandbox] table at the end');
  }
  return stripped;
}

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
