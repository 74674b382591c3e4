#!/usr/bin/env node
// The roles of a topology's deployment, as JSON on stdout, for the sandbox's IAM:
//   node dist/bin/sandbox-iam.js <contract.json | -> <operator principal ARN>
// `-` reads the deployment contract from stdin: sandbox provisioning
// (crates/sandbox/src/provision/iam.rs) builds it with the code `drctl config export --json`
// runs and pipes it in. See lib/sandbox-iam.ts.

import { loadContract } from '../lib/config';
import { exportWorld } from '../lib/sandbox-iam';

const [contract, operatorPrincipal] = process.argv.slice(2);
if (!contract || !operatorPrincipal) {
  process.stderr.write('usage: sandbox-iam <contract.json | -> <operator principal ARN>\n');
  process.exit(2);
}
try {
  process.stdout.write(`${JSON.stringify(exportWorld(loadContract(contract), operatorPrincipal))}\n`);
} catch (e) {
  process.stderr.write(`sandbox-iam: ${(e as Error).message}\n`);
  process.exit(1);
}
