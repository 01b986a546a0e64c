/**
 * The SDK's bind helpers and service list against the real netsessiond, with real packets: the
 * SDK runs in a driver process inside the device namespace (test/integration/drivers/sdk-driver.ts),
 * the daemon beside it with its kernel datapath. A helper's traffic is proven to leave through
 * the session's uplink twice over: the server (or listener) logs the client address, and the
 * routers count it — a packet with eth-b's source address that left through another uplink
 * would be dropped there as `spoofed`, never answered.
 *
 * | input                                                        | expected                                                        |
 * |--------------------------------------------------------------|-----------------------------------------------------------------|
 * | control: socket bound by hand to eth-b's address, no session | leaves via eth-a, dropped there as spoofed, never connects       |
 * | helpers on a session without sourceIPRule                    | SourceIPRuleRequiredError, nothing sent                          |
 * | session pinned to eth-b with sourceIPRule (the fixture)       |                                                                 |
 * |   socketOptions()                                            | eth-b's v4 address (v6 with family 6)                            |
 * |   connect(80, host) (v4, and v6)                             | server logs eth-b's address; router b forwards; no spoofed       |
 * |   tlsConnect(443, host) to the inet TLS listener               | authorized, localAddress and listener's client = eth-b           |
 * |   httpAgent() / httpsAgent()                                 | server logs eth-b                                                |
 * |   dispatcher() with undici, fetch(), Node's global fetch      | server logs eth-b                                                |
 * |   dgram() to the inet UDP listener                            | listener sees eth-b; router b counts the datagrams               |
 * |   resolver() to a DNS "server" on the inet host               | queries arrive from eth-b (no answer: ETIMEOUT)                  |
 * | carrier loss on eth-a under an unpinned session               | agent and dispatcher follow to eth-b; old sockets closed        |
 * | transport.services() / watchServices()                        | eth-a/b/c with bearers; a state change is delivered              |
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DBusTransport, type ServiceInfo, type SessionInfo } from '../../lib/index.js';
import { startNetsessiond } from './harness/daemon.js';
import { waitFor } from './harness/exec.js';
import {
  createSandbox,
  type RouterCounters,
  requireRoot,
  type Sandbox,
  type SandboxProcess,
} from './harness/sandbox.js';
import { sandboxDaemonArgs, testConfig } from './harness/test-daemon.js';
import { type SdkDriver, startSdkDriver } from './support/sdk-driver.js';

const supported = requireRoot();
const LISTENERS = fileURLToPath(new URL('./drivers/inet-listeners.cjs', import.meta.url));
const TLS_PORT = 443;
const UDP_PORT = 5300;
/** The listeners' plain HTTP port: a 60 s keep-alive, so clients pool their connections. */
const HTTP_PORT = 8080;

let sb: Sandbox;
let drv: SdkDriver;
let listeners: SandboxProcess;
let listenerLog: Array<{ kind: string; client: string; url?: string }> = [];
let ca: string | null = null;

/** Writes a throw-away self-signed certificate for the inet host, or says why it cannot. */
function makeCert(dir: string, ip: string): { cert: string; key: string } | string {
  const cert = join(dir, 'inet-cert.pem');
  const key = join(dir, 'inet-key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=inet.test',
        '-addext',
        `subjectAltName=IP:${ip}`,
      ],
      { stdio: 'ignore' },
    );
    return { cert, key };
  } catch (err) {
    return `openssl could not make a certificate (${(err as Error).message.split('\n')[0]})`;
  }
}

const sum = (cs: RouterCounters[], k: keyof RouterCounters) => cs.reduce((n, c) => n + c[k], 0);
async function counters(): Promise<Record<string, RouterCounters>> {
  const out: Record<string, RouterCounters> = {};
  for (const u of sb.uplinks) out[u.name] = await sb.routerCounters(u.name);
  return out;
}

/** Runs `fn` and returns how the routers' counters moved meanwhile. */
async function countedDuring(fn: () => Promise<unknown>): Promise<Record<string, RouterCounters>> {
  const before = await counters();
  await fn();
  const after = await counters();
  const delta: Record<string, RouterCounters> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name]!;
    delta[name] = {
      fwdOut: a.fwdOut - b.fwdOut,
      fwdIn: a.fwdIn - b.fwdIn,
      bytesOut: a.bytesOut - b.bytesOut,
      bytesIn: a.bytesIn - b.bytesIn,
      dropped: a.dropped - b.dropped,
      spoofed: a.spoofed - b.spoofed,
    };
  }
  return delta;
}

/** The clients the HTTP server logged for `path` since the log was cleared. */
async function clientsOf(path: string): Promise<string[]> {
  return (await sb.httpLog()).filter((e) => e.path === path).map((e) => e.client);
}

/** Asserts the traffic left through eth-b only: forwarded by router b, nothing spoofed anywhere. */
function expectViaB(delta: Record<string, RouterCounters>): void {
  expect(delta['eth-b']!.fwdOut).toBeGreaterThan(0);
  expect(delta['eth-b']!.fwdIn).toBeGreaterThan(0);
  expect(sum(Object.values(delta), 'spoofed')).toBe(0);
}

describe.skipIf(!supported)('bind helpers against netsessiond', () => {
  let b4: string;
  let b6: string;
  let inet4: string;
  let inet6: string;

  beforeAll(async () => {
    sb = await createSandbox();
    b4 = sb.uplink('eth-b').devAddr4;
    b6 = sb.uplink('eth-b').devAddr6!;
    inet4 = sb.inet.addr4;
    inet6 = sb.inet.addr6;
    const conf = join(sb.tmpDir, 'netsessiond.conf');
    writeFileSync(conf, testConfig());
    const daemon = await startNetsessiond(sb, {
      args: sandboxDaemonArgs(sb, conf),
    });
    await daemon.waitForLine(/ready:/, { timeoutMs: 15_000 });

    const cert = makeCert(sb.tmpDir, inet4);
    if (typeof cert === 'string') console.log(`[sdk-bind] TLS over the network is not tested: ${cert}`);
    else ca = readFileSync(cert.cert, 'utf8');
    listeners = sb.spawn(sb.inetNs, [
      process.execPath,
      LISTENERS,
      JSON.stringify({
        addr: inet4,
        tlsPort: TLS_PORT,
        httpPort: HTTP_PORT,
        udpPort: UDP_PORT,
        ...(typeof cert === 'string' ? {} : cert),
      }),
    ]);
    listeners.onLine((line, stream) => {
      if (stream === 'stdout' && line.startsWith('{'))
        listenerLog.push(JSON.parse(line) as { kind: string; client: string; url?: string });
    });
    await listeners.waitForLine(/ready/, { stream: 'stdout' });

    drv = await startSdkDriver(sb);
    // The fixture: a session pinned to eth-b, with the source rule; online (its check passed).
    const info = await drv.call<SessionInfo>('create', {
      id: 'b',
      options: { allowedInterface: 'eth-b', sourceIPRule: true, connectionType: 'internet' },
    });
    if (info.state !== 'online') await drv.call('waitInterface', { id: 'b', interface: 'eth-b' });
    await sourceRule(b4, true);
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
  });

  /**
   * Waits until the daemon's `from <address>` rule is there (or gone): it installs it after the
   * Update that reports the session's SourceIPRule, not before.
   */
  async function sourceRule(addr: string, present: boolean): Promise<void> {
    await waitFor(
      `source rule for ${addr} ${present ? 'installed' : 'removed'}`,
      async () => {
        const { stdout } = await sb.run(sb.devNs, ['ip', 'rule', 'show']);
        return new RegExp(`from ${addr.replace(/\./g, '\\.')} lookup`).test(stdout) === present || undefined;
      },
      { timeoutMs: 5000 },
    );
  }

  it('control: without a source rule, a socket bound to eth-b leaves via eth-a and is dropped as spoofed', async () => {
    // The fixture holds the rule for eth-b: drop it for the control, then take it back.
    await drv.call('change', { id: 'b', options: { sourceIPRule: false } });
    await sourceRule(b4, false);
    try {
      const delta = await countedDuring(async () => {
        const r = await drv.attempt('rawConnect', { host: inet4, port: 80, localAddress: b4, timeoutMs: 1500 });
        expect(r.ok).toBe(false);
      });
      expect(delta['eth-a']!.spoofed).toBeGreaterThan(0);
      expect(delta['eth-b']!.fwdOut).toBe(0);
      // And the helpers refuse, rather than send like that.
      expect(await drv.call('expectThrow', { id: 'b', helper: 'connect', host: inet4 })).toEqual({
        code: 'NS_ERR_SOURCE_IP_RULE_REQUIRED',
        name: 'SourceIPRuleRequiredError',
      });
      expect(await drv.call('expectThrow', { id: 'b', helper: 'fetch', url: `http://${inet4}/x` })).toMatchObject({
        code: 'NS_ERR_SOURCE_IP_RULE_REQUIRED',
      });
    } finally {
      await drv.call('change', { id: 'b', options: { sourceIPRule: true } });
      await sourceRule(b4, true);
    }
  });

  it("socketOptions() gives eth-b's addresses", async () => {
    expect(await drv.call('socketOptions', { id: 'b' })).toEqual({ localAddress: b4, family: 4 });
    expect(await drv.call('socketOptions', { id: 'b', family: 6 })).toEqual({ localAddress: b6, family: 6 });
  });

  it('connect(port, host): v4 and v6 leave through eth-b', async () => {
    await sb.clearHttpLog();
    let v4: { localAddress: string; statusLine: string } | undefined;
    let v6: { localAddress: string; statusLine: string } | undefined;
    const delta = await countedDuring(async () => {
      v4 = await drv.call('net', { id: 'b', host: inet4, port: 80, path: '/net4' });
      v6 = await drv.call('net', { id: 'b', host: inet6, port: 80, path: '/net6' });
    });
    expect(v4).toEqual({ localAddress: b4, statusLine: 'HTTP/1.1 200 OK' });
    expect(v6).toEqual({ localAddress: b6, statusLine: 'HTTP/1.1 200 OK' });
    expect(await clientsOf('/net4')).toEqual([b4]);
    expect(await clientsOf('/net6')).toEqual([b6]);
    expectViaB(delta);
  });

  it('tlsConnect(): an authorized TLS session to the inet host, from eth-b', async (ctx) => {
    if (!ca) {
      console.log('[sdk-bind] skipping tlsConnect over the network: no certificate (see above)');
      ctx.skip();
      return;
    }
    listenerLog = [];
    const delta = await countedDuring(async () => {
      const r = await drv.call<{ localAddress: string; authorized: boolean; statusLine: string; body: string }>('tls', {
        id: 'b',
        host: inet4,
        port: TLS_PORT,
        ca,
      });
      expect(r).toMatchObject({ localAddress: b4, authorized: true, statusLine: 'HTTP/1.1 200 OK' });
      expect(JSON.parse(r.body)).toEqual({ client: b4 });
    });
    expect(listenerLog.filter((e) => e.kind === 'tls').map((e) => e.client)).toEqual([b4]);
    expectViaB(delta);
  });

  it('httpAgent() and httpsAgent(): requests leave through eth-b', async () => {
    await sb.clearHttpLog();
    const delta = await countedDuring(async () => {
      expect(await drv.call('http', { id: 'b', key: 'pinned', url: `http://${inet4}/agent` })).toMatchObject({
        status: 200,
        localAddress: b4,
      });
      expect(await drv.call('http', { id: 'b', key: 'pinned', url: `http://[${inet6}]/agent6` })).toMatchObject({
        status: 200,
        localAddress: b6,
      });
    });
    expect(await clientsOf('/agent')).toEqual([b4]);
    expect(await clientsOf('/agent6')).toEqual([b6]);
    expectViaB(delta);
    if (!ca) {
      console.log('[sdk-bind] httpsAgent: no certificate (see above); construction only');
      return;
    }
    const r = await drv.call<{ status: number; body: string; localAddress: string }>('https', {
      id: 'b',
      key: 'pinned-tls',
      url: `https://${inet4}:${TLS_PORT}/agent`,
      ca,
    });
    expect(r).toMatchObject({ status: 200, localAddress: b4 });
    expect(JSON.parse(r.body)).toEqual({ client: b4 });
  });

  it("dispatcher() with undici, fetch(), and Node's global fetch with the dispatcher", async () => {
    await sb.clearHttpLog();
    const delta = await countedDuring(async () => {
      expect(await drv.call('undici', { id: 'b', key: 'pinned', url: `http://${inet4}/undici` })).toEqual({
        status: 200,
        body: '',
      });
      expect(await drv.call('undici', { id: 'b', key: 'pinned', url: `http://[${inet6}]/undici6` })).toEqual({
        status: 200,
        body: '',
      });
      expect(await drv.call('fetch', { id: 'b', url: `http://${inet4}/fetch?bytes=1000` })).toMatchObject({
        status: 200,
      });
      expect(await drv.call('globalFetch', { id: 'b', url: `http://${inet4}/global-fetch` })).toMatchObject({
        status: 200,
      });
    });
    expect(await clientsOf('/undici')).toEqual([b4]);
    expect(await clientsOf('/undici6')).toEqual([b6]);
    expect(await clientsOf('/fetch')).toEqual([b4]);
    expect(await clientsOf('/global-fetch')).toEqual([b4]);
    expectViaB(delta);
  });

  it('dgram(): datagrams to the inet host leave through eth-b', async () => {
    listenerLog = [];
    const delta = await countedDuring(async () => {
      expect(await drv.call('dgram', { id: 'b', host: inet4, port: UDP_PORT, count: 3 })).toEqual({
        localAddress: b4,
        sent: 3,
      });
      await waitFor(
        '3 datagrams at the listener',
        async () => listenerLog.filter((e) => e.kind === 'udp').length >= 3 || undefined,
        { timeoutMs: 5000 },
      );
    });
    expect(listenerLog.filter((e) => e.kind === 'udp').map((e) => e.client)).toEqual([b4, b4, b4]);
    expect(delta['eth-b']!.fwdOut).toBeGreaterThanOrEqual(3);
    expect(sum(Object.values(delta), 'spoofed')).toBe(0);
  });

  it("resolver(): DNS queries leave from eth-b's address", async () => {
    listenerLog = [];
    const r = await drv.call<{ error?: string }>('resolve', {
      id: 'b',
      server: `${inet4}:${UDP_PORT}`,
      name: 'example.test',
    });
    // The listener never answers: what matters is where the question came from.
    expect(r.error).toBe('ETIMEOUT');
    const udp = listenerLog.filter((e) => e.kind === 'udp');
    expect(udp.length).toBeGreaterThan(0);
    expect(new Set(udp.map((e) => e.client))).toEqual(new Set([b4]));
  });

  it('an agent and a dispatcher follow their session to eth-b on carrier loss, closing the old sockets', async () => {
    const a4 = sb.uplink('eth-a').devAddr4;
    const url = (path: string) => `http://${inet4}:${HTTP_PORT}${path}`;
    const clients = (path: string) =>
      listenerLog.filter((e) => e.kind === 'http' && e.url === path).map((e) => e.client);
    await drv.call('create', { id: 'follow', options: { sourceIPRule: true } });
    expect(await drv.call('settings', { id: 'follow' })).toMatchObject({ interface: 'eth-a' });
    listenerLog = [];
    expect(await drv.call('http', { id: 'follow', key: 'follow', url: url('/before') })).toMatchObject({
      status: 200,
      localAddress: a4,
    });
    expect(await drv.call('undici', { id: 'follow', key: 'follow', url: url('/before-undici') })).toMatchObject({
      status: 200,
    });
    // Both pooled their connection (the listener keeps it open for 60 s).
    expect(await drv.call('agentState', { key: 'follow' })).toEqual({
      sockets: 1,
      closed: 0,
      closedByPeer: 0,
      free: 1,
    });
    expect(
      (await drv.call<Array<{ event: string }>>('dispatcherEvents', { key: 'follow' })).map((e) => e.event),
    ).toEqual(['connect']);
    try {
      await sb.setCarrier('eth-a', false);
      await drv.call('waitInterface', { id: 'follow', interface: 'eth-b' });
      // The pooled eth-a socket is destroyed by the agent on the move (no FIN from the server:
      // none could cross eth-a now), and the dispatcher's old generation closes its connection.
      await waitFor(
        'the old socket closed',
        async () => (await drv.call<{ closed: number }>('agentState', { key: 'follow' })).closed === 1 || undefined,
        { timeoutMs: 3000 },
      );
      await waitFor(
        'the old connection closed',
        async () =>
          (await drv.call<Array<{ event: string }>>('dispatcherEvents', { key: 'follow' })).length === 2 || undefined,
        { timeoutMs: 3000 },
      );
      const delta = await countedDuring(async () => {
        expect(await drv.call('http', { id: 'follow', key: 'follow', url: url('/after') })).toMatchObject({
          status: 200,
          localAddress: b4,
        });
        expect(await drv.call('undici', { id: 'follow', key: 'follow', url: url('/after-undici') })).toMatchObject({
          status: 200,
        });
      });
      expectViaB(delta);
      expect(clients('/before')).toEqual([a4]);
      expect(clients('/before-undici')).toEqual([a4]);
      expect(clients('/after')).toEqual([b4]);
      expect(clients('/after-undici')).toEqual([b4]);
      expect(await drv.call('agentState', { key: 'follow' })).toEqual({
        sockets: 2,
        closed: 1,
        closedByPeer: 0,
        free: 1,
      });
      const events = await drv.call<Array<{ event: string }>>('dispatcherEvents', { key: 'follow' });
      expect(events.map((e) => e.event).slice(0, 3)).toEqual(['connect', 'disconnect', 'connect']);
    } finally {
      await sb.setCarrier('eth-a', true);
    }
    await drv.call('waitInterface', { id: 'follow', interface: 'eth-a' });
    await drv.call('destroy', { id: 'follow' });
  });

  it('transport.services() lists the uplinks; watchServices() delivers changes', async () => {
    const transport = new DBusTransport({ busAddress: sb.dbusAddress! });
    try {
      const list = await transport.services();
      const byIf = new Map(list.map((s) => [s.interface, s]));
      expect([...byIf.keys()].sort()).toEqual(['eth-a', 'eth-b', 'eth-c']);
      expect(byIf.get('eth-b')).toMatchObject({ bearer: 'wifi', name: 'eth-b', state: 'online' });
      expect(byIf.get('eth-c')!.path).toMatch(/^\/net\/connman\/service\//);
      const seen: Array<readonly ServiceInfo[]> = [];
      const stop = transport.watchServices((s) => seen.push(s));
      try {
        await waitFor('the first list', async () => seen.length > 0 || undefined, { timeoutMs: 5000 });
        expect(seen[0]!.map((s) => s.interface).sort()).toEqual(['eth-a', 'eth-b', 'eth-c']);
        await sb.setCarrier('eth-c', false);
        await waitFor(
          'eth-c idle',
          async () => seen.at(-1)?.find((s) => s.interface === 'eth-c')?.state === 'idle' || undefined,
          { timeoutMs: 5000 },
        );
        await sb.setCarrier('eth-c', true);
        await waitFor(
          'eth-c back',
          async () =>
            ['ready', 'online'].includes(seen.at(-1)?.find((s) => s.interface === 'eth-c')?.state ?? '') || undefined,
          { timeoutMs: 10_000 },
        );
        // Unchanged services keep their properties through signals that carry none for them.
        expect(seen.at(-1)!.find((s) => s.interface === 'eth-a')).toMatchObject({ bearer: 'ethernet', name: 'eth-a' });
      } finally {
        stop();
      }
    } finally {
      await transport.close();
    }
  });
});
