#!/usr/bin/env node
// `npm test`: typecheck, lint and format check (Biome), unit tests, type tests of the public API, integration tests (netns,
// root). Prints each step, then one plain summary line `N passed, N failed`. As root it first
// installs the Debian packages the integration tests need (scripts/install-deps.sh, as the demo
// does) and says so; without root it runs what it can and says exactly what it skipped and why.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';

const OUT = '.test-out';
mkdirSync(OUT, { recursive: true });
let passed = 0;
let failed = 0;
const failures = [];

function run(title, cmd, args) {
  console.log(`\n== ${title}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  return r.status === 0;
}

function vitest(project, { allowEmpty = false } = {}) {
  const json = `${OUT}/${project}.json`;
  const extra = allowEmpty ? ['--passWithNoTests'] : [];
  const ok = run(`${project} tests`, 'npx', [
    'vitest',
    'run',
    '--project',
    project,
    ...extra,
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${json}`,
  ]);
  if (existsSync(json)) {
    const r = JSON.parse(readFileSync(json, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    if (r.numTotalTests === 0 && allowEmpty) console.log(`== ${project}: no tests in this project yet`);
    else if (r.numTotalTests === 0) {
      failed += 1;
      failures.push(`${project}: no tests ran`);
    }
  } else {
    failed += 1;
  }
  if (!ok) {
    // A suite that fails in its setup leaves its tests "skipped": vitest exits non-zero with no
    // failed test counted. The run must still fail.
    failures.push(`${project} tests`);
    if (existsSync(json) && JSON.parse(readFileSync(json, 'utf8')).numFailedTests === 0) failed += 1;
  }
}

function step(title, cmd, args) {
  if (run(title, cmd, args)) passed += 1;
  else {
    failed += 1;
    failures.push(title);
  }
}

step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('lint and format (biome)', 'npx', ['biome', 'check', '.']);
vitest('unit');
step('build', 'npm', ['run', 'build']);
step('type tests (tsd)', 'npx', ['tsd']);

const isRoot = process.getuid?.() === 0;
const skipped = [];
if (isRoot) {
  console.log(
    '\n== Debian packages for the integration tests: scripts/install-deps.sh (installs only what is missing; never starts a service)',
  );
  const deps = spawnSync('bash', ['scripts/install-deps.sh'], { stdio: 'inherit' });
  if (deps.status !== 0) {
    failed += 1;
    failures.push('install-deps');
  }
}
const hasNetns = spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;
if (isRoot && hasNetns) vitest('integration', { allowEmpty: true });
else {
  const why = !isRoot
    ? 'they need root (network namespaces, nftables, other uids); run `sudo npm test`'
    : "'ip netns' does not work here (install iproute2; containers need CAP_SYS_ADMIN)";
  skipped.push(`integration tests (test/integration/*.test.ts): ${why}`);
}

console.log('');
for (const sk of skipped) console.log(`SKIPPED: ${sk}`);
if (failures.length) console.log(`failed steps: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
