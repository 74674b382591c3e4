// cfn-lint (pinned in scripts/sandbox/requirements.txt, installed into .venv by `make
// setup`) on every synthesized template.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CONTRACTS, REPO_DIR, synth } from './helpers';

const CFN_LINT = path.join(REPO_DIR, '.venv', 'bin', 'cfn-lint');

/**
 * Checks we ignore, each with its reason.
 * W3005: CDK writes an explicit DependsOn on a function's execution role (and its default
 * policy) beside the GetAtt that already orders them; redundant, harmless, and not ours.
 */
export const IGNORED_CHECKS = ['W3005'];

function lint(files: string[]): { status: number | null; output: string } {
  assert.ok(fs.existsSync(CFN_LINT), `${CFN_LINT} missing: run make setup`);
  const run = spawnSync(CFN_LINT, ['--ignore-checks', ...IGNORED_CHECKS, '--', ...files], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const templates = (outdir: string) => fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(outdir, f));

describe('cfn-lint', () => {
  it('passes the sandbox templates', () => {
    const files = templates(synth().outdir);
    assert.equal(files.length, 3);
    const { status, output } = lint(files);
    assert.equal(status, 0, output);
  });

  it('passes the production templates', () => {
    const { status, output } = lint(templates(synth({ contract: CONTRACTS.production, operatorPrincipal: 'arn:aws:iam::333333333333:role/sre' }).outdir));
    assert.equal(status, 0, output);
  });

  it('fails a broken template', () => {
    const [file] = templates(synth().outdir).filter((f) => f.includes('IotDr-Dr'));
    const template = JSON.parse(fs.readFileSync(file, 'utf8'));
    const queue = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::SQS::Queue');
    queue.Properties.VisibilityTimeout = 99999; // SQS allows at most 43200
    const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iot-dr-lint-')), 'broken.template.json');
    fs.writeFileSync(broken, JSON.stringify(template));
    const { status, output } = lint([broken]);
    assert.notEqual(status, 0);
    assert.match(output, /E3034 99999 is greater than the maximum of 43200/);
  });
});
