#!/usr/bin/env node
// The roles of a topology's deployment, as JSON on stdout, for the sandbox's IAM:
//   node dist/bin/sandbox-iam.js <config.toml> <operator principal ARN>
// Run by sandbox provisioning (crates/sandbox/src/provision/iam.rs); see lib/sandbox-iam.ts.

import { exportWorld } from '../lib/sandbox-iam';

const [config, operatorPrincipal] = process.argv.slice(2);
if (!config || !operatorPrincipal) {
  process.stderr.write('usage: sandbox-iam <config.toml> <operator principal ARN>\n');
  process.exit(2);
}
try {
  process.stdout.write(`${JSON.stringify(exportWorld(config, operatorPrincipal))}\n`);
} catch (e) {
  process.stderr.write(`sandbox-iam: ${(e as Error).message}\n`);
  process.exit(1);
}
