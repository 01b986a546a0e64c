/**
 * Logs for people: 10,000 session creations and destructions at the default level (info, with
 * the nftables datapath, in a namespace sandbox) write under 100 lines; per-operation kernel
 * chatter is at debug. Also `--version` of both binaries.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './harness/daemon.js';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon, type TestDaemon } from './harness/test-daemon.js';
import { ConnmanClient } from './support/connman-client.js';

const supported = requireRoot();
let sb: Sandbox;
let td: TestDaemon;

describe.skipIf(!supported)('log volume', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    td = await startTestDaemon(sb);
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
  });

  it('10,000 session churns at the default level write under 100 lines', async () => {
    const client = await ConnmanClient.connect(sb.dbusAddress!);
    const first = await client.createSession({}, '/test/first');
    await first.n.waitFor((s) => s.State === 'online', 15_000, 'first session online');
    await client.session(first.path).destroy();
    const before = td.daemon.stderr.split('\n').length;
    const CHURNERS = 20;
    const EACH = 500;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CHURNERS }, async (_, w) => {
        for (let i = 0; i < EACH; i++) {
          const s = await client.createSession({}, `/test/w${w}/n${i}`);
          await client.session(s.path).destroy();
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    // Let queued reconciles and their log lines (if any) come out.
    await new Promise((r) => setTimeout(r, 2000));
    const lines = td.daemon.stderr
      .split('\n')
      .slice(before - 1)
      .filter(Boolean);
    console.log(
      `${CHURNERS * EACH} churns in ${secs.toFixed(1)} s wrote ${lines.length} line(s) at the default level${lines.length ? `:\n  ${lines.slice(0, 10).join('\n  ')}` : ''}`,
    );
    expect(td.daemon.exitStatus).toBeNull();
    expect(lines.length).toBeLessThan(100);
    expect(lines.join('\n')).not.toMatch(/kernel operation/);
    client.disconnect();
  }, 600_000);

  it('--version answers on both binaries', () => {
    const run = (entry: string) =>
      execFileSync(process.execPath, ['--import', 'tsx', `${REPO_ROOT}${entry}`, '--version'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      }).trim();
    const { version } = JSON.parse(execFileSync('cat', [`${REPO_ROOT}package.json`], { encoding: 'utf8' })) as {
      version: string;
    };
    expect(run('daemon/main.ts')).toBe(`netsessiond ${version}`);
    expect(run('bin/netsessionctl.ts')).toBe(`netsessionctl ${version}`);
  });
});
