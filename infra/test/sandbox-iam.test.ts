// The sandbox enforces exactly the IAM this app synthesizes: the export the sandbox reads
// (lib/sandbox-iam.ts, rendered without asset staging) equals the roles and policies of a
// real synth, role by role; and a drift between the two fails this test.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as names from '../lib/names';
import { exportRoles, exportWorld, sandboxContext } from '../lib/sandbox-iam';
import { productionConfig, resources, SANDBOX_CONFIG, synth } from './helpers';

const OPERATOR = 'arn:aws:iam::222222222222:role/sandbox-operator';

function fromSynth(config: string) {
  const s = synth(sandboxContext(config, OPERATOR));
  const envs = s.built.stacks.map((stack) => [{ account: stack.account, region: stack.region }, s.templates[stack.stackName].Resources] as const);
  return { s, exported: exportRoles(s.built.topology, envs.map(([e, r]) => [e, r]), OPERATOR) };
}

describe('sandbox IAM', () => {
  for (const [label, config] of [['sandbox', SANDBOX_CONFIG], ['production', undefined]] as const) {
    it(`exports exactly the roles and policies synth writes (${label})`, () => {
      const file = config ?? productionConfig();
      const { exported } = fromSynth(file);
      assert.deepEqual(exportWorld(file, OPERATOR), exported);
    });
  }

  it('holds every role a function assumes, and each function\'s execution role', () => {
    const { s, exported } = fromSynth(SANDBOX_CONFIG);
    const arns = new Set(exported.roles.map((r) => r.arn));
    let functions = 0;
    for (const template of Object.values(s.templates)) {
      for (const [, f] of resources(template, 'AWS::Lambda::Function')) {
        const env = f.Properties.Environment?.Variables ?? {};
        if (!env.DRCTL__DR__ROLE_ARN) continue;
        functions++;
        const fn = names.FUNCTIONS.find((n) => names.functionName(n) === f.Properties.FunctionName)!;
        for (const side of names.SIDES_USED[fn]) {
          assert.ok(arns.has(names.sideRoleArn(s.built.topology, fn, side)), `${fn} assumes a role the sandbox does not know (${side})`);
        }
        assert.ok(arns.has(names.executionRoleArn(s.built.topology, fn)), `${fn}'s execution role`);
      }
    }
    assert.equal(functions, names.FUNCTIONS.length);
    const operators = exported.roles.filter((r) => r.kind === 'operator').map((r) => r.arn);
    assert.deepEqual(operators.sort(), [s.built.topology.primary.roleArn, s.built.topology.dr.roleArn].sort());
    // No intrinsic left unresolved: the sandbox reads strings only.
    assert.doesNotMatch(JSON.stringify(exported), /"(Ref|Fn::[A-Za-z]+)"/);
  });

  it('fails when a role\'s policy in the template drifts from what the sandbox enforces', () => {
    const { s } = fromSynth(SANDBOX_CONFIG);
    const drifted = structuredClone(s.templates['IotDr-Dr'].Resources) as Record<string, any>;
    const [, role] = Object.entries(drifted).find(([, r]) => r.Properties?.RoleName === 'iot-dr-cert-replicator-dr')!;
    role.Properties.Policies[0].PolicyDocument.Statement.push({ Effect: 'Allow', Action: 'iot:DeleteThing', Resource: '*' });
    const envs = s.built.stacks.map((stack) => [
      { account: stack.account, region: stack.region },
      stack.stackName === 'IotDr-Dr' ? drifted : s.templates[stack.stackName].Resources,
    ] as [{ account: string; region: string }, any]);
    assert.notDeepEqual(exportRoles(s.built.topology, envs, OPERATOR), exportWorld(SANDBOX_CONFIG, OPERATOR));
  });
});
