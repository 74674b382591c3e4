// cdk-nag's AWS Solutions checks on every stack: nothing unacknowledged, of any severity.
// Synth itself fails on an unacknowledged error (CDK policy validation); warnings only show
// in the report, so the report is read here too.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as iam from 'aws-cdk-lib/aws-iam';
import { buildApp } from '../lib/app';
import { CONTRACTS, quietly, synth, TEST_CONTEXT } from './helpers';

interface Report {
  pluginReports: Array<{ pluginName: string; violations: Array<{ ruleName: string; severity: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
}

const report = (outdir: string): Report => JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));

/** Violations other than our own deploy-time notes (Annotation::iot-dr:*). */
function findings(outdir: string): string[] {
  return report(outdir).pluginReports.flatMap((p) =>
    p.violations
      .filter((v) => !v.ruleName.startsWith('Annotation::iot-dr:'))
      .map((v) => `${p.pluginName} ${v.severity} ${v.ruleName} at ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`),
  );
}

describe('cdk-nag (AwsSolutions) and CDK validation', () => {
  it('finds nothing unacknowledged in the sandbox topology', () => {
    assert.deepEqual(findings(synth().outdir), []);
  });

  it('finds nothing unacknowledged in a production topology with an operators role', () => {
    const { outdir } = synth({ contract: CONTRACTS.production, operatorPrincipal: 'arn:aws:iam::333333333333:role/sre', operatorEmail: 'sre@example.com' });
    assert.deepEqual(findings(outdir), []);
  });

  it('fails synth on a new unexplained wildcard', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'iot-dr-nag-'));
    const built = buildApp({ ...TEST_CONTEXT }, outdir);
    new iam.Role(built.dr, 'Careless', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      inlinePolicies: { all: new iam.PolicyDocument({ statements: [new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] })] }) },
    });
    assert.throws(() => quietly(() => built.app.synth(), false), /Validation failed/);
    assert.ok(findings(outdir).some((f) => f.includes('AwsSolutions-IAM5[Action::s3:*]') && f.includes('IotDr-Dr/Careless')));
  });
});
