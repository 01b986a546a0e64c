/**
 * `npm run demo` as CI runs it: scripts/demo.ts in non-interactive mode, as a child process of
 * the test (it builds and removes its own sandbox), judged by its exit code, by what it prints
 * and by what it leaves behind.
 *
 * | input                                          | expected                                                          |
 * |------------------------------------------------|-------------------------------------------------------------------|
 * | `demo.ts --non-interactive`                    | exit 0; every summary row ✓; the failover Update eth-a → eth-b    |
 * |                                                | (wifi); per-bearer byte counts ≥ 1,000,000 B; no namespace or     |
 * |                                                | temp dir of its sandbox left                                      |
 * | SIGINT while the heartbeat step runs           | exit 130; the steps after it "not run"; teardown ✓; no namespace, |
 * |                                                | temp dir or process (daemon, app) of it left                      |
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TMP_BASE } from './harness/cleanup.js';
import { REPO_ROOT } from './harness/daemon.js';
import { requireRoot } from './harness/sandbox.js';

const supported = requireRoot();

const STEPS = [
  'sandbox, private D-Bus, netsessiond, app',
  'services and their bearers',
  'one session per bearer',
  'a download through each session',
  'per-session byte counts',
  'a default session (no bearer restriction)',
  'heartbeat over every uplink (examples/heartbeat.ts)',
  'failover: eth-a (ethernet) loses carrier',
  'restore: eth-a gets its carrier back',
  'teardown',
];

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the demo; `interruptAt` sends SIGINT once a line containing it has been printed. */
function runDemo(interruptAt?: string): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'demo.ts'), '--non-interactive'],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, CI: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    let sent = false;
    const take = (d: string): void => {
      output += d;
      if (interruptAt && !sent && output.includes(interruptAt)) {
        sent = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** Summary rows: title and mark (✓, ✗, or - for not run). */
function summaryOf(output: string): Array<{ title: string; mark: string; detail: string }> {
  const after = output
    .slice(output.lastIndexOf('\nsummary\n') + 1)
    .split('\n')
    .slice(1);
  return after
    .map((l) => /^\s+\d+\s{2}(.+?)\s{2,}([✓✗-])\s{2}(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ title: m[1]!, mark: m[2]!, detail: m[3]! }));
}

function sandboxIdOf(output: string): string {
  const id = /sandbox (nsh-\d+-[0-9a-f]{4}): namespaces/.exec(output)?.[1];
  if (!id) throw new Error(`no sandbox id in the demo's output:\n${output}`);
  return id;
}

/** Namespaces (`ip netns list`) and temp dirs whose name starts with `prefix`. */
function leftovers(prefix: string): string[] {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((ns) => ns.startsWith(prefix));
  // A temp dir is named like its sandbox id: `nsh-<pid>-<hex>`, without the namespace suffix.
  const dirs = existsSync(TMP_BASE) ? readdirSync(TMP_BASE).filter((d) => `${d}-`.startsWith(prefix)) : [];
  return [...namespaces, ...dirs];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!supported)('npm run demo', () => {
  it('runs every step, shows the failover and the byte counts, exits 0 and leaves nothing behind', async () => {
    const run = await runDemo();
    expect(run.code, run.output).toBe(0);

    const summary = summaryOf(run.output);
    expect(
      summary.map((r) => r.title),
      run.output,
    ).toEqual(STEPS);
    expect(
      summary.filter((r) => r.mark !== '✓'),
      run.output,
    ).toEqual([]);
    expect(run.output).toContain(`demo passed: all ${STEPS.length} steps did what they claimed`);
    expect(run.output).not.toContain('✗');

    expect(run.output).toMatch(
      /Update default: interface eth-a → eth-b, bearer ethernet → wifi, ipv4 198\.51\.100\.18/,
    );
    expect(run.output).toMatch(/✓ session "default" failed over to eth-b \(wifi\) in one Update/);
    expect(run.output).toMatch(/✓ the server saw it from 198\.51\.100\.18 \(eth-b\)/);
    for (const [bearer, ifname] of [
      ['ethernet', 'eth-a'],
      ['wifi', 'eth-b'],
      ['cellular', 'eth-c'],
    ]) {
      const m = new RegExp(`✓ session "${bearer}" on ${ifname}: rx ([\\d,]+) B`).exec(run.output);
      expect(m, `${bearer} byte count in:\n${run.output}`).not.toBeNull();
      expect(Number(m![1]!.replaceAll(',', ''))).toBeGreaterThanOrEqual(1_000_000);
    }

    expect(leftovers(`${sandboxIdOf(run.output)}-`)).toEqual([]);
  }, 120_000);

  it('on SIGINT tears everything down and exits 130', async () => {
    const run = await runDemo('\n6. heartbeat');
    expect(run.code, run.output).toBe(130);
    expect(run.output).toContain('interrupted (SIGINT): tearing down');

    const summary = summaryOf(run.output);
    expect(
      summary.map((r) => [r.title, r.mark]),
      run.output,
    ).toEqual([
      ...STEPS.slice(0, 6).map((t) => [t, '✓']),
      [STEPS[6], '✗'],
      [STEPS[7], '-'],
      [STEPS[8], '-'],
      ['teardown', '✓'],
    ]);
    expect(summary[6]!.detail).toBe('interrupted by SIGINT');

    expect(leftovers(`${sandboxIdOf(run.output)}-`)).toEqual([]);
    const pids = [...run.output.matchAll(/(?:netsessiond|the demo app \(scripts\/demo\/app\.ts),? \(?pid (\d+)/g)].map(
      (m) => Number(m[1]),
    );
    expect(pids.length, run.output).toBe(2);
    expect(pids.filter(alive)).toEqual([]);
  }, 120_000);

  it('on SIGINT while the sandbox is being built, waits for the build to settle and removes it', async () => {
    const run = await runDemo('\n0. sandbox');
    expect(run.code, run.output).toBe(130);
    const summary = summaryOf(run.output);
    expect(summary[0], run.output).toMatchObject({ title: STEPS[0], mark: '✗', detail: 'interrupted by SIGINT' });
    expect(summary.at(-1), run.output).toMatchObject({ title: 'teardown', mark: '✓' });
    // Whatever got built is named after the demo's pid.
    const pid = /no namespace or temp dir named nsh-(\d+)-\* left/.exec(run.output)?.[1];
    expect(pid, run.output).toBeDefined();
    expect(leftovers(`nsh-${pid}-`)).toEqual([]);
  }, 120_000);
});
