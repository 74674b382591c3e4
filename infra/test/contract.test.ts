// The app reads the topology only through the deployment contract the Rust code exports
// (`drctl config export --json`). The fixtures here are that code's output for committed
// configs (test/fixtures, `make contract-fixtures`); a dr-aws test fails when one differs
// from what the code exports now, so these tests cannot drift from the Rust side.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildApp } from '../lib/app';
import { type Contract, loadContract, parseContract, SCHEMA_VERSION } from '../lib/config';
import { CONTRACTS, resources, synth, TEST_CONTEXT } from './helpers';

const text = fs.readFileSync(CONTRACTS.sandbox, 'utf8');
const edited = (edit: (doc: any) => void): string => {
  const doc = JSON.parse(text);
  edit(doc);
  return JSON.stringify(doc);
};
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return assert.fail('expected a refusal');
};

describe('deployment contract', () => {
  it('reads the contract the Rust code exported for config/sandbox.toml', () => {
    const c = loadContract(CONTRACTS.sandbox);
    assert.equal(c.schema_version, SCHEMA_VERSION);
    assert.equal(c.topology.dr.account_id, '222222222222');
    assert.equal(c.names.replication_topic_arn, 'arn:aws:sns:us-west-2:222222222222:dr-cert-replication.fifo');
    // Resolved by the Rust code: fleetdb takes [snapshots] interval_minutes = 240.
    assert.equal(c.topology.snapshots.databases[0].interval_minutes, null);
    assert.equal(c.snapshot_policies[0].interval_ms, 240 * 60_000);
  });

  it('refuses another schema version, or no contract at all, saying how to export one', () => {
    const other = refusal(() => parseContract(edited((d) => (d.schema_version = SCHEMA_VERSION + 1)), 'old.json'));
    assert.match(other, /old\.json is contract schema_version 2, but this CDK app reads version 1/);
    assert.match(other, /drctl --config <topology\.toml> config export --json/);
    assert.match(refusal(() => parseContract('[primary]\naccount_id = "1"', 'topology.toml')), /topology\.toml is not JSON[\s\S]*config export --json/);
    assert.match(refusal(() => parseContract('{"primary": {}}', 'x.json')), /x\.json has no schema_version: not a deployment contract/);
    assert.match(refusal(() => parseContract(edited((d) => delete d.serving_alarm), 'x.json')), /x\.json lacks serving_alarm/);
    assert.match(refusal(() => loadContract('/nonexistent/contract.json')), /cannot read the deployment contract \/nonexistent\/contract\.json/);
  });

  it('refuses a contract whose Lambdas this app does not deploy', () => {
    const added = edited((d) => d.functions.push({ ...d.functions[0], name: 'cert-auditor' }));
    assert.match(refusal(() => parseContract(added, 'new.json')), /lists the Lambdas .*cert-auditor.*, but this CDK app deploys/);
  });

  it('says what to pass when no contract is given, and refuses a topology file', () => {
    const { contract: _, ...withoutContract } = TEST_CONTEXT;
    const saved = process.env.DRCTL_CONTRACT;
    delete process.env.DRCTL_CONTRACT;
    try {
      const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-dr-contract-'));
      assert.match(refusal(() => buildApp(withoutContract, outdir)), /no deployment contract: pass -c contract=<file>.*config export --json/);
      assert.match(refusal(() => buildApp({ ...withoutContract, config: 'config/sandbox.toml' }, outdir)), /reads no TOML/);
    } finally {
      if (saved !== undefined) process.env.DRCTL_CONTRACT = saved;
    }
  });

  it('deploys every name the Rust code derives under that name', () => {
    const { templates, built } = synth({ contract: CONTRACTS.production });
    const c: Contract = built.contract;
    const all = Object.values(templates);
    const named = (type: string, property: string) => all.flatMap((t) => resources(t, type).map(([, r]) => r.Properties[property]));
    assert.deepEqual(
      named('AWS::SNS::Topic', 'TopicName').sort(),
      [c.names.replication_topic_name, c.names.shadow_topic_name, c.topology.failover.operator_topic, c.topology.failover.operator_topic].sort(),
    );
    assert.deepEqual(
      named('AWS::SQS::Queue', 'QueueName').filter((n) => n !== 'iot-dr-capture-failures').sort(),
      [c.names.dead_letter_queue_name, c.names.replication_queue_name, c.names.shadow_queue_name].sort(),
    );
    assert.deepEqual(named('AWS::CloudWatch::Alarm', 'AlarmName').filter((n) => n === c.serving_alarm.alarm_name).length, 1);
    assert.deepEqual(named('AWS::IoT::DomainConfiguration', 'DomainConfigurationName'), [c.names.domain_configuration_name, c.names.domain_configuration_name]);
    const aliases = named('AWS::KMS::Alias', 'AliasName');
    for (const alias of [c.names.replication_key_alias, c.names.operators_key_alias, c.names.regional_snapshot_key_alias, c.names.dr_snapshot_key_alias]) {
      assert.ok(aliases.includes(alias), `${alias} in ${aliases}`);
    }
    const roles = named('AWS::IAM::Role', 'RoleName');
    const functions = all.flatMap((t) => resources(t, 'AWS::Lambda::Function').map(([, r]) => r.Properties));
    for (const f of c.functions) {
      assert.ok(roles.includes(f.execution_role_name), f.execution_role_name);
      for (const role of f.side_roles) assert.ok(roles.includes(role.name), role.name);
      // Each function runs with the config variable and the role overrides the Rust code gives it.
      const deployed = functions.find((p) => p.FunctionName === f.function_name);
      assert.ok(deployed, f.function_name);
      assert.deepEqual(deployed.Environment.Variables, { [c.lambda_config.variable]: '/opt/config.toml', ...f.role_overrides, RUST_LOG: 'info' });
    }
  });

  it('gives the Lambdas the config file the Rust code wrote, without [sandbox]', () => {
    const { assembly } = synth();
    const c = loadContract(CONTRACTS.sandbox);
    assert.ok(c.topology.sandbox, 'the sandbox contract carries [sandbox]');
    assert.doesNotMatch(c.lambda_config.toml, /\[sandbox\]|127\.0\.0\.1/);
    const layers = fs
      .readdirSync(assembly.directory)
      .filter((d) => d.startsWith('asset.'))
      .map((d) => path.join(assembly.directory, d, 'config.toml'))
      .filter((f) => fs.existsSync(f));
    assert.ok(layers.length > 0, 'a staged config layer');
    for (const layer of layers) assert.equal(fs.readFileSync(layer, 'utf8'), c.lambda_config.toml);
  });
});
