// The sandbox enforces exactly the IAM this app synthesizes: the export the sandbox reads
// (lib/sandbox-iam.ts, rendered without asset staging) equals the roles and policies of a
// real synth, role by role; and a drift between the two fails this test.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadContract } from '../lib/config';
import * as names from '../lib/names';
import { exportRoles, exportWorld, sandboxContext } from '../lib/sandbox-iam';
import { INFRA_DIR } from '../lib/settings';
import { CONTRACTS, resources, synth } from './helpers';

const OPERATOR = 'arn:aws:iam::222222222222:role/sandbox-operator';

function fromSynth(contractFile: string) {
  const contract = loadContract(contractFile);
  const s = synth({ ...sandboxContext(contract, OPERATOR), contract: contractFile });
  const envs = s.built.stacks.map((stack) => [{ account: stack.account, region: stack.region }, s.templates[stack.stackName].Resources] as const);
  return { s, contract, exported: exportRoles(contract, envs.map(([e, r]) => [e, r]), OPERATOR) };
}

describe('sandbox IAM', () => {
  for (const [label, file] of [['sandbox', CONTRACTS.sandbox], ['production', CONTRACTS.production]] as const) {
    it(`exports exactly the roles and policies synth writes (${label})`, () => {
      const { contract, exported } = fromSynth(file);
      assert.deepEqual(exportWorld(contract, OPERATOR), exported);
    });
  }

  it('holds every role a function assumes, and each function\'s execution role', () => {
    const { s, contract: c, exported } = fromSynth(CONTRACTS.sandbox);
    const arns = new Set(exported.roles.map((r) => r.arn));
    let functions = 0;
    for (const template of Object.values(s.templates)) {
      for (const [, f] of resources(template, 'AWS::Lambda::Function')) {
        const env = f.Properties.Environment?.Variables ?? {};
        if (!env.DRCTL__DR__ROLE_ARN) continue;
        functions++;
        const fn = c.functions.find((x) => x.function_name === f.Properties.FunctionName)!;
        for (const role of fn.side_roles) assert.ok(arns.has(role.arn), `${fn.name} assumes a role the sandbox does not know (${role.side})`);
        assert.ok(arns.has(fn.execution_role_arn), `${fn.name}'s execution role`);
      }
    }
    assert.equal(functions, names.FUNCTIONS.length);
    const operators = exported.roles.filter((r) => r.kind === 'operator').map((r) => r.arn);
    assert.deepEqual(operators.sort(), [c.topology.primary.role_arn, c.topology.dr.role_arn].sort());
    // No intrinsic left unresolved: the sandbox reads strings only.
    assert.doesNotMatch(JSON.stringify(exported), /"(Ref|Fn::[A-Za-z]+)"/);
  });

  it('fails when a role\'s policy in the template drifts from what the sandbox enforces', () => {
    const { s, contract } = fromSynth(CONTRACTS.sandbox);
    const drifted = structuredClone(s.templates['IotDr-Dr'].Resources) as Record<string, any>;
    const [, role] = Object.entries(drifted).find(([, r]) => r.Properties?.RoleName === 'iot-dr-cert-replicator-dr')!;
    role.Properties.Policies[0].PolicyDocument.Statement.push({ Effect: 'Allow', Action: 'iot:DeleteThing', Resource: '*' });
    const envs = s.built.stacks.map((stack) => [
      { account: stack.account, region: stack.region },
      stack.stackName === 'IotDr-Dr' ? drifted : s.templates[stack.stackName].Resources,
    ] as [{ account: string; region: string }, any]);
    assert.notDeepEqual(exportRoles(contract, envs, OPERATOR), exportWorld(contract, OPERATOR));
  });

  it('reads the contract from stdin, as sandbox provisioning pipes it', () => {
    const script = path.join(INFRA_DIR, 'dist', 'bin', 'sandbox-iam.js');
    const run = spawnSync(process.execPath, [script, '-', OPERATOR], { input: fs.readFileSync(CONTRACTS.sandbox), encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), JSON.parse(JSON.stringify(exportWorld(loadContract(CONTRACTS.sandbox), OPERATOR))));
  });
});
