#!/usr/bin/env node
// The IoT DR stacks from the deployment contract named by `-c contract=<file>` (or
// DRCTL_CONTRACT): what `drctl --config <topology.toml> config export --json` prints. Run by
// `cdk synth|deploy` (cdk.json) or directly:
//   node dist/bin/app.js -c contract=<file> [-c key=value]...   (what `make synth` does; writes cdk.out/)

import * as path from 'node:path';
import { buildApp, contextFromArgs } from '../lib/app';
import { INFRA_DIR } from '../lib/settings';

const outdir = process.env.CDK_OUTDIR ?? path.join(INFRA_DIR, 'cdk.out');
buildApp(contextFromArgs(process.argv.slice(2)), outdir).app.synth();
