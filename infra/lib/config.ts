// The deployment contract: everything this app needs of a topology, as the Rust code
// exports it (`drctl config export --json`, crates/aws/src/contract.rs). The topology
// arrives parsed, checked and resolved by the code every binary runs (defaults, `DRCTL__`
// overrides, cross-field rules), and every name the Lambdas derive at run time arrives
// derived: this app parses no TOML and mirrors no rule. Keys are snake_case, as in the TOML
// file and the Rust structs.
//
// These types describe the JSON; the loader checks only what tells a contract of another
// version (or no contract at all) apart, and that the app deploys exactly its functions.

import * as fs from 'node:fs';

/** The contract version this app reads (crates/aws/src/contract.rs `SCHEMA_VERSION`). */
export const SCHEMA_VERSION = 1;

export type Side = 'primary' | 'dr';
export type FlipMode = 'data-plane' | 'dns-api';
export type DatabaseKind = 'instance' | 'cluster';

/** The Lambdas this app deploys (dr-stack.ts, primary-stack.ts), by crate name. */
export const DEPLOYED_FUNCTIONS = ['cert-capture', 'cert-replicator', 'reconciler', 'snapshot-controller', 'health-checker'] as const;
export type FunctionName = (typeof DEPLOYED_FUNCTIONS)[number];

export interface SideConfig {
  readonly account_id: string;
  readonly region: string;
  readonly role_arn: string;
}

/** One probe of primary (`[[failover.probes]]`, `[drill] canary`), by kind. */
export type ProbeConfig =
  | { readonly kind: 'tls'; readonly host: string; readonly port: number; readonly server_name?: string; readonly alpn?: string; readonly ca_file?: string; readonly timeout_ms: number }
  | {
      readonly kind: 'mqtt';
      readonly host: string;
      readonly port: number;
      readonly server_name?: string;
      readonly alpn?: string;
      readonly ca_file?: string;
      readonly client_cert_file: string;
      readonly client_key_file: string;
      readonly client_id: string;
      readonly timeout_ms: number;
    }
  | { readonly kind: 'https'; readonly url: string; readonly server_name?: string; readonly ca_file?: string; readonly timeout_ms: number }
  | { readonly kind: 'alarm'; readonly alarm_names: string[]; readonly timeout_ms: number };

/** `[[snapshots.databases]]` as written: unset values are `null` (see SnapshotPolicy). */
export interface DatabaseConfig {
  readonly identifier: string;
  readonly kind: DatabaseKind;
  readonly interval_minutes: number | null;
  readonly keep: number | null;
  readonly max_age_hours: number | null;
  readonly subnet_group?: string;
  readonly security_group_ids?: string[];
  readonly parameter_group?: string;
  readonly cluster_parameter_group?: string;
  readonly option_group?: string;
  readonly instance_class?: string;
  readonly multi_az: boolean;
  readonly deletion_protection: boolean;
  readonly instances?: number;
  readonly backup_replication?: {
    readonly retention_days: number;
    readonly subnet_group: string;
    readonly security_group_ids?: string[];
    readonly parameter_group?: string;
    readonly option_group?: string;
  };
  readonly credentials_secret_arn?: string;
  readonly global_secondary?: { readonly cluster: string; readonly instances?: number };
}

/** The resolved topology (dr_core::Topology). */
export interface Topology {
  readonly primary: SideConfig;
  readonly dr: SideConfig;
  readonly replication: {
    readonly topic: string;
    readonly queue: string;
    readonly dead_letter_queue: string;
    readonly ledger_table: string;
    readonly register_per_second?: number;
  };
  readonly failover: {
    readonly state_table: string;
    readonly operator_topic: string;
    readonly flip: FlipMode;
    readonly round_interval_seconds: number;
    readonly rounds_per_invocation: number;
    readonly failure_threshold: number;
    readonly recovery_threshold: number;
    readonly quorum?: number;
    readonly min_dwell_seconds: number;
    readonly failback_after_healthy_seconds: number;
    readonly failback_settle_seconds: number;
    readonly probes: ProbeConfig[];
    readonly database_parameter_path: string;
  };
  readonly dns: {
    readonly zone: string;
    readonly record: string;
    readonly drill_record: string;
    readonly primary_target: string;
    readonly dr_target: string;
    readonly ttl_seconds: number;
  };
  readonly snapshots: {
    readonly regional_kms_key: string;
    readonly dr_kms_key: string;
    readonly interval_minutes: number;
    readonly keep: number;
    readonly max_age_hours: number;
    readonly databases: DatabaseConfig[];
  };
  readonly reconcile: {
    readonly max_calls_per_second: number;
    readonly page_size: number;
    readonly max_pages_per_invocation?: number;
    readonly status_pass_every_minutes: number;
  };
  readonly drill: { readonly canary?: ProbeConfig };
  readonly timeouts?: Record<string, Record<string, number>>;
  /** Present against the local sandbox only; never in the Lambdas' config file. */
  readonly sandbox?: { readonly endpoint: string; readonly world: string; readonly principal: string };
}

/** Where and how a restore lands in DR (dr_core::snapshots::RestoreSettings). */
export interface RestoreSettings {
  readonly subnet_group: string | null;
  readonly security_group_ids: string[];
  readonly parameter_group: string | null;
  readonly cluster_parameter_group: string | null;
  readonly option_group: string | null;
  readonly instance_class: string | null;
  readonly multi_az: boolean;
  readonly deletion_protection: boolean;
  readonly instances: number;
}

/** One protected database with the `[snapshots]` defaults applied (Topology::snapshot_policies). */
export interface SnapshotPolicy {
  readonly kind: DatabaseKind;
  readonly database: string;
  readonly interval_ms: number;
  readonly keep_count: number;
  readonly max_age_ms: number;
  readonly regional_kms_key: string;
  readonly dr_kms_key: string;
  readonly dr_account: string;
  readonly max_copies_in_flight: number;
  readonly restore: RestoreSettings;
  readonly backup_replication: { readonly retention_days: number; readonly restore: RestoreSettings } | null;
  /** Aurora Global Database's secondary in the DR region (primary's account), promoted in place by a failover. */
  readonly global_secondary: { readonly cluster: string; readonly instances: number; readonly instance_class: string | null } | null;
}

/** What the Rust code names at run time (crates/aws/src/names.rs and friends). */
export interface Names {
  readonly replication_topic_name: string;
  readonly replication_topic_arn: string;
  readonly replication_queue_name: string;
  readonly replication_queue_arn: string;
  /** The shadow lane: its own topic and queue, so a shadow storm never delays a revocation. */
  readonly shadow_topic_name: string;
  readonly shadow_topic_arn: string;
  readonly shadow_queue_name: string;
  readonly shadow_queue_arn: string;
  readonly dead_letter_queue_name: string;
  readonly dead_letter_queue_arn: string;
  readonly max_receive_count: number;
  readonly operator_topic_arn: string;
  readonly domain_configuration_name: string;
  readonly replication_key_alias: string;
  readonly operators_key_alias: string;
  /** The `[snapshots]` keys to create, by alias; `null`: the config names an existing key by ARN. */
  readonly regional_snapshot_key_alias: string | null;
  readonly dr_snapshot_key_alias: string | null;
  readonly ledger_table_key: string;
  readonly state_table_key: string;
  readonly metrics_namespace: string;
  readonly metrics_function_dimension: string;
  readonly managed_snapshot_tag: string;
  /** The Service Quotas service and codes `drctl readiness` reads (the fleet's RTO). */
  readonly iot_quota_service: string;
  readonly iot_quota_codes: readonly string[];
}

/** The data-plane switch's alarm and health check, as the health checker puts them. */
export interface ServingAlarm {
  readonly alarm_name: string;
  readonly namespace: string;
  readonly metric_name: string;
  readonly dimension_name: string;
  readonly dimension_value: string;
  readonly statistic: string;
  readonly period_seconds: number;
  readonly evaluation_periods: number;
  readonly datapoints_to_alarm: number;
  readonly threshold: number;
  readonly comparison_operator: string;
  readonly treat_missing_data: string;
  readonly health_check_insufficient_data: string;
}

/** One Lambda: where it runs, the sides it calls, its roles and the overrides it runs with. */
export interface FunctionContract {
  readonly name: FunctionName;
  readonly function_name: string;
  readonly home: Side;
  readonly sides_used: Side[];
  readonly execution_role_name: string;
  readonly execution_role_arn: string;
  readonly side_roles: Array<{ readonly side: Side; readonly name: string; readonly arn: string }>;
  /** `DRCTL__PRIMARY__ROLE_ARN` and `DRCTL__DR__ROLE_ARN`. */
  readonly role_overrides: Record<string, string>;
}

export interface Contract {
  readonly schema_version: number;
  readonly topology: Topology;
  readonly snapshot_policies: SnapshotPolicy[];
  readonly names: Names;
  readonly serving_alarm: ServingAlarm;
  readonly functions: FunctionContract[];
  /** The variable naming a Lambda's config file, and that file (TOML, without `[sandbox]`). */
  readonly lambda_config: { readonly variable: string; readonly toml: string };
}

const SECTIONS = ['topology', 'snapshot_policies', 'names', 'serving_alarm', 'functions', 'lambda_config'] as const;

/** How to make a contract, for every refusal. */
export const EXPORT_HINT = 'export it with the drctl of this checkout: drctl --config <topology.toml> config export --json > contract.json';

/** Read a contract file (`-`: standard input). */
export function loadContract(file: string): Contract {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the deployment contract ${file}: ${(e as Error).message}; ${EXPORT_HINT}`);
  }
  return parseContract(text, file === '-' ? 'standard input' : file);
}

/** Parse a contract; `origin` names it in errors. */
export function parseContract(text: string, origin: string): Contract {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${origin} is not JSON (${(e as Error).message}): not a deployment contract; ${EXPORT_HINT}`);
  }
  const doc = value as Partial<Record<string, unknown>>;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !('schema_version' in doc)) {
    throw new Error(`${origin} has no schema_version: not a deployment contract; ${EXPORT_HINT}`);
  }
  if (doc.schema_version !== SCHEMA_VERSION) {
    throw new Error(
      `${origin} is contract schema_version ${JSON.stringify(doc.schema_version)}, but this CDK app reads version ${SCHEMA_VERSION}: ${EXPORT_HINT}`,
    );
  }
  const missing = SECTIONS.filter((key) => !(key in doc));
  if (missing.length > 0) throw new Error(`${origin} lacks ${missing.join(', ')}: ${EXPORT_HINT}`);
  const contract = doc as unknown as Contract;
  const listed = contract.functions.map((f) => f.name).sort();
  if (JSON.stringify(listed) !== JSON.stringify([...DEPLOYED_FUNCTIONS].sort())) {
    throw new Error(
      `${origin} lists the Lambdas ${listed.join(', ')}, but this CDK app deploys ${DEPLOYED_FUNCTIONS.join(', ')}: add the new function's stack resources (or update the app)`,
    );
  }
  return contract;
}
