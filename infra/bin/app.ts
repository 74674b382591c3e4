#!/usr/bin/env node
// The IoT DR stacks from the topology named by `-c config=<path>` (or DRCTL_CONFIG; default
// config/sandbox.toml). Run by `cdk synth|deploy` (cdk.json) or directly:
//   node dist/bin/app.js [-c key=value]...   (what `make synth` does; writes cdk.out/)

import * as path from 'node:path';
import { buildApp, contextFromArgs } from '../lib/app';
import { INFRA_DIR } from '../lib/settings';

const outdir = process.env.CDK_OUTDIR ?? path.join(INFRA_DIR, 'cdk.out');
buildApp(contextFromArgs(process.argv.slice(2)), outdir).app.synth();
