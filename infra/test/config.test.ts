// The TypeScript reading of the topology agrees with the Rust one: same defaults, same
// refusals, and names derived exactly as crates/aws/src/names.rs and failover.rs derive
// them (checked against the Rust source text, so a rename there fails here).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { ConfigError, loadTopology, parseTopology, stripSandbox } from '../lib/config';
import * as names from '../lib/names';
import { REPO_DIR, SANDBOX_CONFIG } from './helpers';

const SANDBOX = fs.readFileSync(SANDBOX_CONFIG, 'utf8');
const rust = (file: string) => fs.readFileSync(path.join(REPO_DIR, file), 'utf8');

function fieldError(text: string): { field: string; message: string } {
  try {
    parseTopology(text, 'test.toml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return { field: e.field, message: e.message };
  }
  assert.fail('expected the config to be refused');
}

describe('topology config', () => {
  it('parses the committed sandbox config', () => {
    const t = loadTopology(SANDBOX_CONFIG);
    assert.equal(t.primary.accountId, '111111111111');
    assert.equal(t.dr.region, 'us-west-2');
    assert.equal(t.replication.topic, 'dr-cert-replication');
    assert.equal(t.failover.flip, 'data-plane');
    assert.equal(t.snapshots.databases[0].identifier, 'fleetdb');
    assert.equal(t.snapshots.databases[0].intervalMinutes, 240);
    assert.equal(t.hasSandbox, true);
  });

  it('refuses what the Rust topology refuses, naming the field', () => {
    assert.equal(fieldError(SANDBOX.replace('"222222222222"', '"22222"')).field, 'dr.account_id');
    const wrongAccount = fieldError(SANDBOX.replace('arn:aws:iam::222222222222:role/', 'arn:aws:iam::111111111111:role/'));
    assert.equal(wrongAccount.field, 'dr.role_arn');
    assert.match(wrongAccount.message, /belongs to account 111111111111/);
    assert.equal(fieldError(SANDBOX.replace('[replication]\n', '[replication]\ntopik = "oops"\n')).field, 'replication.topik');
    assert.equal(fieldError(SANDBOX.replace('drill.iot.example.com', 'iot.example.com')).field, 'dns.drill_record');
    assert.equal(fieldError(SANDBOX.replace('"dr.iot.example.com"', '"primary.iot.example.com"')).field, 'dns.dr_target');
    assert.equal(fieldError(SANDBOX.replaceAll('222222222222', '111111111111').replaceAll('us-west-2', 'us-east-1')).field, 'dr');
    assert.equal(fieldError(SANDBOX.replace('page_size = 250', 'page_size = 251')).field, 'reconcile.page_size');
    assert.equal(fieldError(SANDBOX.replace('kind = "instance"', 'kind = "replica"')).field, 'snapshots.databases[0].kind');
    const oneAccount = fieldError(SANDBOX.replaceAll('222222222222', '111111111111'));
    assert.equal(oneAccount.field, 'snapshots.dr_kms_key');
    assert.match(oneAccount.message, /another alias/);
    assert.equal(fieldError(`${SANDBOX}\n[timeouts.nobody]\nconnect_ms = 1\n`).field, 'timeouts.nobody');
    assert.equal(fieldError(`${SANDBOX}\n[timeouts.drctl]\nconnect_s = 1\n`).field, 'timeouts.drctl.connect_s');
    parseTopology(`${SANDBOX}\n[timeouts.cert_replicator]\noperation_ms = 20000\n`, 'ok.toml');
  });

  it('strips only [sandbox] from what the Lambdas get', () => {
    const stripped = stripSandbox(SANDBOX);
    assert.doesNotMatch(stripped, /^\s*\[sandbox\]|127\.0\.0\.1/m);
    const before = parseToml(SANDBOX) as Record<string, unknown>;
    delete before.sandbox;
    assert.deepEqual(parseToml(stripped), before);
    assert.equal(parseTopology(stripped, 'stripped').hasSandbox, false);
    // Written as a dotted key at the top, [sandbox] cannot be cut by lines: refused, not leaked.
    assert.throws(() => stripSandbox(`sandbox.endpoint = "http://127.0.0.1:1"\n${stripped}`), /could not strip/);
  });
});

describe('names mirror the Rust code', () => {
  const t = loadTopology(SANDBOX_CONFIG);

  it('derives the replication names as names.rs does', () => {
    const src = rust('crates/aws/src/names.rs');
    assert.match(src, new RegExp(`FIFO_SUFFIX: &str = "${names.FIFO_SUFFIX.replace('.', '\\.')}"`));
    assert.match(src, /"arn:aws:sns:\{\}:\{\}:\{\}\{FIFO_SUFFIX\}",\s*topology\.dr\.region, topology\.dr\.account_id, topology\.replication\.topic/);
    assert.equal(names.replicationTopicArn(t), 'arn:aws:sns:us-west-2:222222222222:dr-cert-replication.fifo');
    assert.equal(names.replicationQueueName(t), 'dr-cert-replication.fifo');
    assert.equal(names.deadLetterQueueName(t), 'dr-cert-replication-dlq.fifo');
  });

  it('derives the failover names as failover.rs does', () => {
    const src = rust('crates/aws/src/failover.rs');
    assert.match(src, /format!\("iot-dr-primary-serving-\{\}", topology\.dns\.record\)/);
    assert.match(src, new RegExp(`SERVING_METRIC: &str = "${names.SERVING_METRIC.metricName}"`));
    assert.match(src, new RegExp(`const NAMESPACE: &str = "${names.SERVING_METRIC.namespace}"`));
    assert.match(src, /\.name\("Record"\)/);
    assert.match(rust('crates/core/src/failover/rto.rs'), /SERVING_ALARM_PERIOD_SECONDS: u64 = 60;/);
    assert.match(src, /SERVING_ALARM_PERIOD_SECONDS: i32 =\s*dr_core::failover::rto::SERVING_ALARM_PERIOD_SECONDS as i32;/);
    assert.match(src, /Statistic::Minimum[\s\S]*\.period\(SERVING_ALARM_PERIOD_SECONDS\)[\s\S]*\.datapoints_to_alarm\(1\)[\s\S]*\.treat_missing_data\("ignore"\)/);
    assert.match(src, /\.storage_resolution\(60\)/, 'Route 53 follows no high-resolution metric');
    assert.doesNotMatch(src, /set_alarm_state/, 'Route 53 follows the data stream, not the state');
    assert.match(src, /InsufficientDataHealthStatus::LastKnownStatus/);
    assert.equal(names.servingAlarmName(t), 'iot-dr-primary-serving-iot.example.com');
    assert.equal(names.operatorTopicArn(t), 'arn:aws:sns:us-west-2:222222222222:dr-operators');
    assert.match(rust('crates/aws/src/metrics.rs'), new RegExp(`NAMESPACE: &str = "${names.METRICS_NAMESPACE}"`));
  });

  it('gives each function in the sandbox the roles lambda.ts gives it', () => {
    const src = rust('crates/sandbox/src/identity.rs');
    const side = (s: string) => (s === 'primary' ? 'Side::Primary' : 'Side::Dr');
    for (const fn of names.FUNCTIONS) {
      const sides = names.SIDES_USED[fn].map(side).join(', ');
      assert.match(src, new RegExp(`"${fn}"[^=]*=> &\\[${sides.replace(/[[\]]/g, '\\$&')}\\]`), `${fn} uses ${sides}`);
    }
    assert.match(src, /"arn:aws:iam::\{\}:role\/iot-dr-\{function\}-\{side\}"/);
    assert.equal(names.sideRoleName('cert-capture', 'primary'), 'iot-dr-cert-capture-primary');
    assert.match(rust('crates/core/src/topology.rs'), new RegExp(names.FUNCTIONS.map((f) => `"${f}",`).join('\\s*')));
  });

  it('uses the sandbox provisioning constants', () => {
    const replication = rust('crates/sandbox/src/provision/replication.rs');
    assert.match(replication, new RegExp(`MAX_RECEIVE_COUNT: u32 = ${names.MAX_RECEIVE_COUNT};`));
    assert.match(replication, new RegExp(`KEY_ALIAS: &str = "${names.REPLICATION_KEY_ALIAS}"`));
    assert.match(replication, new RegExp(`ledger_table\\.as_str\\(\\),\\s*"${names.LEDGER_KEY}"`));
    const failover = rust('crates/sandbox/src/provision/failover.rs');
    assert.match(failover, new RegExp(`KEY_ALIAS: &str = "${names.OPERATORS_KEY_ALIAS}"`));
    assert.match(failover, new RegExp(`state_table\\.as_str\\(\\), "${names.STATE_KEY}"`));
    assert.match(failover, /format!\("iot-dr-\{\}", topology\.dns\.record\.as_str\(\)\.replace\('\.', "-"\)\)/);
    assert.equal(names.domainConfigurationName(t), 'iot-dr-iot-example-com');
  });

  it('sets the overrides runtime.rs and topology.rs read', () => {
    assert.match(rust('crates/aws/src/runtime.rs'), /std::env::var_os\("DRCTL_CONFIG"\)/);
    assert.match(rust('crates/core/src/topology.rs'), /ENV_PREFIX: &str = "DRCTL__"/);
  });
});
