/**
 * What the SDK tells about an uplink beyond ConnMan's Update — its DNS servers, metered and
 * captive-portal state — and what it does with it, against the real netsessiond in observe mode
 * (eth-a ethernet, eth-b wifi, eth-c cellular; a provisioning file gives each observed uplink its
 * router as nameserver). Each router of eth-b and eth-c runs a DNS server (dnsmasq): only eth-c's
 * knows `only-cell.test`. The examples in examples/ are the apps, run in the device namespace.
 *
 * | input                                                        | expected                                                        |
 * |--------------------------------------------------------------|-----------------------------------------------------------------|
 * | transport.services()                                         | each service's nameservers = its router; eth-c metered, a/b not  |
 * | uplink-dns.ts cellular http://only-cell.test/…               | resolved by eth-c's server (asked from eth-c's address); HTTP 200, the server saw eth-c's address |
 * | uplink-dns.ts wifi http://only-cell.test/…                   | eth-b's server refuses it: "cannot resolve", exit 1; no request |
 * | uplink-status.ts cellular; portal on eth-c, then lifted       | "captive portal <url>" on eth-c, then "not captive portal"; the service too |
 * | avoid-metered.ts cellular,wifi with eth-b down, then up       | on eth-c (metered), then moves to eth-b (unmetered)             |
 * | upload-form.ts cellular <url>                                 | the form (global Request, FormData, Blob) and the global fetch's ping arrive from eth-c |
 * | policy AllowedBearers = wifi; wait-for-online.ts 20000 cellular | at once (well before the timeout): "never: policy uplinks.policy:policy_kiosk allows none of cellular", exit 3 |
 * | persistent-fetch.ts cellular <url>; SIGKILL, restart the daemon | "daemon lost" once; online via eth-c again within 2 s of the new daemon owning its name; the fetch loop succeeds again, from eth-c |
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, DBusTransport, type ServiceInfo } from '../../lib/index.js';
import { REPO_ROOT, startNetsessiond } from './harness/daemon.js';
import { type DnsServer, startDnsServer } from './harness/dns-server.js';
import { waitFor } from './harness/exec.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { sandboxDaemonArgs, testConfig } from './harness/test-daemon.js';

const supported = requireRoot();
let sb: Sandbox;
let daemon: SandboxProcess;
let transport: DBusTransport;
let dnsB: DnsServer;
let dnsC: DnsServer;
let conf: string;

function example(name: string, args: string[]): SandboxProcess {
  return sb.spawn(sb.devNs, [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'examples', name), ...args], {
    cwd: REPO_ROOT,
  });
}

const lines = (p: SandboxProcess): string[] => p.stdout.split('\n').filter((l) => l !== '');

/** Waits for a stdout line matching `pattern` among those printed after the first `from`; returns its index. */
async function lineAfter(p: SandboxProcess, from: number, pattern: RegExp, timeoutMs = 15_000): Promise<number> {
  return waitFor(
    `a line ${pattern}`,
    async () => {
      const i = lines(p).findIndex((l, k) => k >= from && pattern.test(l));
      return i >= 0 ? i : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

async function startDaemon(): Promise<SandboxProcess> {
  const d = await startNetsessiond(sb, {
    args: sandboxDaemonArgs(sb, conf),
  });
  await d.waitForLine(/ready:/, { timeoutMs: 15_000 });
  return d;
}

async function service(iface: string): Promise<ServiceInfo> {
  const s = (await transport.services()).find((x) => x.interface === iface);
  if (!s) throw new Error(`no service for ${iface}`);
  return s;
}

describe.skipIf(!supported)('uplink properties against netsessiond', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    conf = join(sb.tmpDir, 'netsessiond.conf');
    writeFileSync(conf, testConfig());
    // Observe mode: another tool configures the links; the provisioning file names their DNS.
    const prov = join(sb.tmpDir, 'state', 'provisioning');
    mkdirSync(prov, { recursive: true });
    const section = (u: string, type: string) => [
      `[service_${u.replace('-', '')}]`,
      `Type = ${type}`,
      `DeviceName = ${u}`,
      `Nameservers = ${sb.uplink(u).gw4}`,
      '',
    ];
    writeFileSync(
      join(prov, 'uplinks.config'),
      [...section('eth-a', 'ethernet'), ...section('eth-b', 'wifi'), ...section('eth-c', 'cellular')].join('\n'),
    );
    dnsB = await startDnsServer(sb, 'eth-b', {});
    dnsC = await startDnsServer(sb, 'eth-c', { 'only-cell.test': sb.inet.addr4 });
    daemon = await startDaemon();
    transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    await waitFor('eth-c online', async () => (await service('eth-c')).state === 'online' || undefined, {
      timeoutMs: 15_000,
    });
  }, 120_000);

  afterAll(async () => {
    await transport?.close();
    await sb?.destroy();
  });

  it('each service lists its own nameservers; cellular is metered', async () => {
    for (const u of ['eth-a', 'eth-b', 'eth-c']) expect((await service(u)).nameservers).toEqual([sb.uplink(u).gw4]);
    expect((await service('eth-c')).metered).toBe(true);
    expect((await service('eth-b')).metered).toBe(false);
    expect(await service('eth-a')).toMatchObject({
      metered: false,
      roaming: false,
      captivePortal: false,
      portalUrl: null,
    });
  });

  it('a name only the cellular DNS knows resolves through a cellular session and its fetch leaves by cellular; not through wifi', async () => {
    await sb.clearHttpLog();
    const url = `http://only-cell.test/dns-cell`;
    const cell = example('uplink-dns.ts', ['cellular', url]);
    expect(await cell.exited, cell.stderr).toMatchObject({ code: 0 });
    const c = sb.uplink('eth-c').devAddr4;
    expect(lines(cell)).toEqual([
      `uplink eth-c, nameservers ${sb.uplink('eth-c').gw4}`,
      `resolved only-cell.test: ${sb.inet.addr4}`,
      `HTTP 200 via eth-c from ${c}`,
    ]);
    // The query went to eth-c's server from eth-c's address; the request left by eth-c.
    expect(
      dnsC
        .queries()
        .filter((q) => q.name === 'only-cell.test')
        .map((q) => q.client),
    ).toContain(c);
    expect((await sb.httpLog()).filter((e) => e.path === '/dns-cell').map((e) => e.client)).toEqual([c]);

    const wifi = example('uplink-dns.ts', ['wifi', url]);
    expect(await wifi.exited, wifi.stderr).toMatchObject({ code: 1 });
    expect(lines(wifi)[1]).toMatch(/^cannot resolve only-cell\.test on eth-b: /);
    expect(
      dnsB
        .queries()
        .filter((q) => q.name === 'only-cell.test')
        .map((q) => q.client),
    ).toContain(sb.uplink('eth-b').devAddr4);
    expect((await sb.httpLog()).filter((e) => e.path === '/dns-cell')).toHaveLength(1);
  }, 60_000);

  it('a captive portal on the cellular uplink shows on its service and session, and clears when lifted', async () => {
    const p = example('uplink-status.ts', ['cellular']);
    try {
      await lineAfter(p, 0, /^start: eth-c: metered, not roaming, not captive portal$/);
      await sb.setOnlineMode('portal', { uplink: 'eth-c' });
      // The check runs again when the link comes back.
      await sb.setCarrier('eth-c', false);
      await sb.setCarrier('eth-c', true);
      const url = sb.inet.onlineUrl4.replace(/[.?]/g, '\\$&');
      const at = await lineAfter(p, 1, new RegExp(`^portal: eth-c: metered, not roaming, captive portal ${url}$`));
      expect(await service('eth-c')).toMatchObject({ captivePortal: true, portalUrl: sb.inet.onlineUrl4 });
      await sb.setOnlineMode('online', { uplink: 'eth-c' });
      await lineAfter(p, at + 1, /^portal: eth-c: metered, not roaming, not captive portal$/);
      expect(await service('eth-c')).toMatchObject({ captivePortal: false, portalUrl: null });
    } finally {
      await sb.setOnlineMode('online', { uplink: 'eth-c' });
      await p.kill('SIGTERM', 3000);
    }
  }, 60_000);

  it('an avoidMetered session stays on cellular only while nothing else is up, and moves to wifi when it appears', async () => {
    await sb.setCarrier('eth-b', false);
    let p: SandboxProcess | undefined;
    try {
      p = example('avoid-metered.ts', ['cellular,wifi']);
      await p.waitForLine(/^on eth-c \(cellular, metered\)$/, { stream: 'stdout', timeoutMs: 15_000 });
    } finally {
      await sb.setCarrier('eth-b', true);
    }
    await p.waitForLine(/^on eth-b \(wifi, unmetered\)$/, { stream: 'stdout', timeoutMs: 15_000 });
    expect(lines(p)).toEqual(['on eth-c (cellular, metered)', 'on eth-b (wifi, unmetered)']);
    await p.kill('SIGTERM', 3000);
  }, 60_000);

  it('s.fetch takes a global Request with a FormData body, and the global fetch takes s.dispatcher()', async () => {
    await sb.clearHttpLog();
    const p = example('upload-form.ts', ['cellular', `http://${sb.inet.addr4}/upload`]);
    expect(await p.exited, p.stderr).toMatchObject({ code: 0 });
    expect(lines(p)).toEqual(['upload: HTTP 200 via eth-c', 'ping with the global fetch: HTTP 200 via eth-c']);
    const log = (await sb.httpLog()).filter((e) => e.path === '/upload');
    expect(log.map((e) => [e.method, e.client])).toEqual([
      ['POST', sb.uplink('eth-c').devAddr4],
      ['GET', sb.uplink('eth-c').devAddr4],
    ]);
    expect(log[0]!.bytesIn).toBeGreaterThan(200);
  }, 60_000);

  it('a wait the policy made impossible fails at once, naming the policy and the bearers', async () => {
    const policy = join(sb.tmpDir, 'policy', 'uplinks.policy');
    mkdirSync(join(sb.tmpDir, 'policy'), { recursive: true });
    writeFileSync(policy, '[policy_kiosk]\nuid = root\nAllowedBearers = wifi\n');
    try {
      // The daemon loads the file within ~100 ms: wait until a session of root's sees it.
      await waitFor(
        'the policy in force',
        async () => {
          const probe = await createSession({ transport, allowedBearers: ['cellular'] });
          const blocked = probe.settings.allowedBearers.length === 0;
          await probe.destroy();
          return blocked || undefined;
        },
        { timeoutMs: 5_000, intervalMs: 50 },
      );
      const t0 = Date.now();
      const p = example('wait-for-online.ts', ['20000', 'cellular']);
      const exit = await p.exited;
      expect(exit, p.stderr).toMatchObject({ code: 3 });
      expect(lines(p).at(-1)).toBe('never: policy uplinks.policy:policy_kiosk allows none of cellular');
      // Not the 20 s timeout: the process start dominates what it took.
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      rmSync(policy);
    }
  }, 60_000);

  // Last: it restarts the daemon.
  it('a persistent session is online again on the same bearer within 2 s of a SIGKILLed daemon coming back, and its fetch loop resumes', async () => {
    await sb.clearHttpLog();
    const p = example('persistent-fetch.ts', ['cellular', `http://${sb.inet.addr4}/persistent`, '100']);
    const seen: Array<{ line: string; at: number }> = [];
    p.onLine((line, stream) => {
      if (stream === 'stdout') seen.push({ line, at: Date.now() });
    });
    try {
      await lineAfter(p, 0, /^#\d+ HTTP 200 via eth-c$/);
      await daemon.kill('SIGKILL', 0);
      await daemon.exited;
      await lineAfter(p, 0, /^daemon lost \(NS_ERR_DAEMON_UNAVAILABLE\)$/);
      const okBefore = (await sb.httpLog()).filter((e) => e.path === '/persistent').length;
      daemon = await startNetsessiond(sb, {
        args: sandboxDaemonArgs(sb, conf),
      });
      // The new daemon owns its bus name: the restart, as a client can see it.
      const restarted = Date.now();
      const lostAt = lines(p).findIndex((l) => l.startsWith('daemon lost'));
      const backAt = await lineAfter(p, lostAt + 1, /^online via eth-c \(cellular\)$/, 10_000);
      const at = seen.find((x) => x.line === lines(p)[backAt] && x.at >= restarted - 5_000)?.at ?? Date.now();
      console.log(
        `[sdk-uplinks] persistent session online again ${at - restarted} ms after the restarted daemon took its name`,
      );
      expect(at - restarted).toBeLessThan(2_000);
      // The loop, untouched, gets answers again.
      await lineAfter(p, backAt + 1, /^#\d+ HTTP 200 via eth-c$/);
      expect(lines(p).filter((l) => l.startsWith('daemon lost'))).toHaveLength(1);
      const after = (await sb.httpLog()).filter((e) => e.path === '/persistent').slice(okBefore);
      expect(after.length).toBeGreaterThan(0);
      expect(new Set(after.map((e) => e.client))).toEqual(new Set([sb.uplink('eth-c').devAddr4]));
    } finally {
      await p.kill('SIGTERM', 3000);
    }
  }, 60_000);
});
