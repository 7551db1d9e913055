#!/usr/bin/env node
// Runs the reference study's full classifier table (7 classifiers x windows
// 3..15 x with/without the level-4 filter) on the hids-docker stand-in data.
// Usage: node scripts/classifier-study.mjs [out.json]
// The dataset is found through $SYSWARDEN_DATASET (default ../shared/datasets/hids-docker).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const out = process.argv[2] ? resolve(process.argv[2]) : undefined;
const r = spawnSync('npx', ['vitest', 'run', 'test/detect/classifier-study.test.ts', '--silent=false'], {
  stdio: 'inherit',
  cwd: resolve(import.meta.dirname, '..'),
  env: { ...process.env, SYSWARDEN_STUDY: 'full', ...(out ? { SYSWARDEN_STUDY_OUT: out } : {}) },
});
process.exit(r.status ?? 1);
