/**
 * The examples in examples/ run against netsessiond in a sandbox: each is started as a program
 * in the device namespace (it finds the private bus through DBUS_SYSTEM_BUS_ADDRESS, as any app
 * finds the system bus) and judged by what it prints and by where its packets went.
 *
 * | example                                   | input                                          | expected                                             |
 * |-------------------------------------------|------------------------------------------------|------------------------------------------------------|
 * | heartbeat.ts <url> 500                    | all uplinks fine                               | UP for eth-a, eth-b, eth-c                           |
 * |                                           | router b black-holes traffic (link stays up)   | DOWN eth-b at the 1st or 2nd eth-b probe after it; others stay up |
 * |                                           | black hole lifted                              | UP eth-b again                                       |
 * | split-traffic.ts <sensitive> <bulk>       | cellular = eth-c, wifi = eth-b                 | POST seen from eth-c; 2 MB download from eth-b, counted by router b |
 * | wait-for-online.ts 20000 cellular         | eth-c without carrier, then back               | waits, then "online via eth-c", exit 0               |
 * | wait-for-online.ts 800 cellular           | eth-c without carrier                          | "still offline", exit 1                              |
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startNetsessiond } from './harness/daemon.js';
import { waitFor } from './harness/exec.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { sandboxDaemonArgs, testConfig } from './harness/test-daemon.js';

const supported = requireRoot();
let sb: Sandbox;

/** Starts an example in the device namespace. */
function example(name: string, args: string[], env: Record<string, string> = {}): SandboxProcess {
  return sb.spawn(sb.devNs, [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'examples', name), ...args], {
    cwd: REPO_ROOT,
    env,
  });
}

function stdoutLines(p: SandboxProcess): string[] {
  return p.stdout.split('\n').filter((l) => l !== '');
}

/** The last UP/DOWN heartbeat.ts printed for `name`, or null. */
function lastTransition(p: SandboxProcess, name: string): 'UP' | 'DOWN' | null {
  const line = stdoutLines(p)
    .reverse()
    .find((l) => l.startsWith(`UP ${name} `) || l.startsWith(`DOWN ${name}:`));
  return line ? (line.startsWith('UP') ? 'UP' : 'DOWN') : null;
}

describe.skipIf(!supported)('examples', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    const conf = join(sb.tmpDir, 'netsessiond.conf');
    writeFileSync(conf, testConfig());
    const daemon = await startNetsessiond(sb, {
      args: sandboxDaemonArgs(sb, conf),
    });
    await daemon.waitForLine(/ready:/, { timeoutMs: 15_000 });
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
  });

  it('heartbeat.ts reports a black-holed uplink DOWN within two of its probes, and UP again', async () => {
    const hb = example('heartbeat.ts', [`http://${sb.inet.addr4}/heartbeat`, '500']);
    try {
      // Every uplink up (a first probe may fail while the daemon is still installing the
      // session's source rule: the UP that follows is what counts here).
      await waitFor(
        'UP for every uplink',
        async () => ['eth-a', 'eth-b', 'eth-c'].every((n) => lastTransition(hb, n) === 'UP') || undefined,
        { timeoutMs: 15_000 },
      );
      // Probes went through each uplink from its own address.
      const clients = new Set((await sb.httpLog()).filter((e) => e.path === '/heartbeat').map((e) => e.client));
      expect(clients).toEqual(new Set(sb.uplinks.map((u) => u.devAddr4)));

      await sb.dropTraffic('eth-b', true);
      const mark = stdoutLines(hb).length;
      await waitFor(
        'DOWN eth-b',
        async () =>
          stdoutLines(hb)
            .slice(mark)
            .some((l) => l.startsWith('DOWN eth-b: ')) || undefined,
        { timeoutMs: 10_000 },
      );
      const after = stdoutLines(hb).slice(mark);
      const downAt = after.findIndex((l) => l.startsWith('DOWN eth-b'));
      // Counted in eth-b's probes, not in time: at most one probe that was already under way
      // when the router started dropping can still pass; the next one fails.
      const bProbes = after.slice(0, downAt).filter((l) => l.startsWith('eth-b '));
      expect(bProbes.length, after.join('\n')).toBeLessThanOrEqual(1);
      expect(after[downAt - 1], after.join('\n')).toMatch(/^eth-b\s+wifi\s+FAIL /);
      // The link itself stayed up, and the other uplinks were not affected.
      expect((await sb.linkState('eth-b')).carrier).toBe(true);
      expect(after.some((l) => /^DOWN eth-[ac]/.test(l))).toBe(false);
      expect((await sb.routerCounters('eth-b')).dropped).toBeGreaterThan(0);

      await sb.dropTraffic('eth-b', false);
      await waitFor(
        'UP eth-b again',
        async () =>
          stdoutLines(hb)
            .slice(mark)
            .some((l) => l.startsWith('UP eth-b ')) || undefined,
        { timeoutMs: 10_000 },
      );
      expect(
        stdoutLines(hb)
          .slice(mark)
          .filter((l) => /^eth-b .* ok /.test(l))
          .at(-1),
      ).toMatch(/loss \d+%$/);
    } finally {
      await sb.dropTraffic('eth-b', false);
      await hb.kill('SIGTERM', 3000);
    }
  }, 60_000);

  it('split-traffic.ts sends the sensitive request over cellular and the bulk download over wifi', async () => {
    await sb.clearHttpLog();
    const before = await sb.routerCounters('eth-b');
    const bulkBytes = 2_000_000;
    const p = example('split-traffic.ts', [
      `http://${sb.inet.addr4}/api/transfer`,
      `http://${sb.inet.addr4}/big-file?bytes=${bulkBytes}`,
    ]);
    const exit = await p.exited;
    expect(exit, p.stderr).toMatchObject({ code: 0 });
    const c = sb.uplink('eth-c').devAddr4;
    const b = sb.uplink('eth-b').devAddr4;
    expect(stdoutLines(p)).toEqual([
      `sensitive: HTTP 200 via eth-c from ${c}`,
      `bulk: ${bulkBytes} bytes via eth-b from ${b}`,
    ]);
    const log = await sb.httpLog();
    expect(log.filter((e) => e.path === '/api/transfer').map((e) => [e.method, e.client, e.bytesIn])).toEqual([
      ['POST', c, 13],
    ]);
    expect(log.filter((e) => e.path === '/big-file').map((e) => e.client)).toEqual([b]);
    const after = await sb.routerCounters('eth-b');
    expect(after.bytesIn - before.bytesIn).toBeGreaterThan(bulkBytes);
  }, 60_000);

  it('wait-for-online.ts waits for the cellular uplink to come online, then exits 0', async () => {
    await sb.setCarrier('eth-c', false);
    let p: SandboxProcess | undefined;
    try {
      p = example('wait-for-online.ts', ['20000', 'cellular']);
      await p.waitForLine(/^waiting up to 20000 ms/, { stream: 'stdout', timeoutMs: 15_000 });
      expect(p.exitStatus).toBeNull();
    } finally {
      await sb.setCarrier('eth-c', true);
    }
    const exit = await p.exited;
    expect(exit, p.stderr).toMatchObject({ code: 0 });
    expect(stdoutLines(p).at(-1)).toBe('online via eth-c (cellular)');
  }, 60_000);

  it('wait-for-online.ts exits 1 when nothing comes online in time', async () => {
    await sb.setCarrier('eth-c', false);
    try {
      const p = example('wait-for-online.ts', ['800', 'cellular']);
      const exit = await p.exited;
      expect(exit, p.stderr).toMatchObject({ code: 1 });
      expect(stdoutLines(p)).toEqual([
        'waiting up to 800 ms for an uplink to come online...',
        'still offline after 800 ms',
      ]);
    } finally {
      await sb.setCarrier('eth-c', true);
    }
  }, 60_000);
});
