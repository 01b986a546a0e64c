/**
 * The online-check probe really leaves through the service's interface.
 *
 * Topology (all in namespaces created here, removed afterwards):
 *
 *   dev ── upA 198.51.100.2/30 ── rA (198.51.100.1) ── 198.51.100.9/30  ─┐
 *      └── upB 198.51.100.6/30 ── rB (198.51.100.5) ── 198.51.100.13/30 ─┴─ inet: HTTP 203.0.113.80
 *
 * The main table of `dev` has its default route via A only. Each router counts what it forwards
 * to and from the server (nft named counters); the server logs client addresses.
 */

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OnlineCheckResult } from '../../daemon/core/online-schedule.js';
import type { OnlineCheckRequest } from '../../daemon/ports.js';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = 'test/integration/drivers/online-probe-driver.ts';
const SERVER = 'test/integration/drivers/online-check-server.mjs';
const URL_ = 'http://203.0.113.80/online/status.html';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('online-probe.test.ts: skipped, needs root to create network namespaces');

const suffix = randomBytes(3).toString('hex');
const NS = { dev: `op-dev-${suffix}`, ra: `op-ra-${suffix}`, rb: `op-rb-${suffix}`, inet: `op-inet-${suffix}` };

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function inNs(ns: string, cmd: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], {
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
  });
}

const ROUTER_NFT = `table ip opcount {
  counter arrived { }
  counter out { }
  counter in { }
  chain pre {
    type filter hook prerouting priority -150; policy accept;
    ip daddr 203.0.113.80 counter name "arrived"
  }
  chain pass {
    type filter hook forward priority 0; policy accept;
    ip daddr 203.0.113.80 counter name "out"
    ip saddr 203.0.113.80 counter name "in"
  }
}
`;

/** Packets router `ns` forwarded towards the server (`out`) or received for it (`arrived`). */
function forwarded(ns: string, counterName: 'out' | 'arrived' = 'out'): number {
  const out = JSON.parse(inNs(ns, ['nft', '-j', 'list', 'counter', 'ip', 'opcount', counterName])) as {
    nftables: Array<{ counter?: { packets: number } }>;
  };
  const counter = out.nftables.find((x) => x.counter)?.counter;
  if (!counter) throw new Error(`no counter in ${ns}`);
  return counter.packets;
}

function setUp(): void {
  for (const ns of Object.values(NS)) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    // Explicit, so a host default of strict rp_filter does not change what this test measures.
    inNs(ns, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
  }
  ip('-n', NS.dev, 'link', 'add', 'upA', 'type', 'veth', 'peer', 'name', 'dA', 'netns', NS.ra);
  ip('-n', NS.dev, 'link', 'add', 'upB', 'type', 'veth', 'peer', 'name', 'dB', 'netns', NS.rb);
  ip('-n', NS.ra, 'link', 'add', 'iA', 'type', 'veth', 'peer', 'name', 'rA', 'netns', NS.inet);
  ip('-n', NS.rb, 'link', 'add', 'iB', 'type', 'veth', 'peer', 'name', 'rB', 'netns', NS.inet);
  const addrs: Array<[string, string, string]> = [
    [NS.dev, 'upA', '198.51.100.2/30'],
    [NS.dev, 'upB', '198.51.100.6/30'],
    [NS.ra, 'dA', '198.51.100.1/30'],
    [NS.ra, 'iA', '198.51.100.9/30'],
    [NS.rb, 'dB', '198.51.100.5/30'],
    [NS.rb, 'iB', '198.51.100.13/30'],
    [NS.inet, 'rA', '198.51.100.10/30'],
    [NS.inet, 'rB', '198.51.100.14/30'],
    [NS.inet, 'lo', '203.0.113.80/32'],
  ];
  for (const [ns, dev, addr] of addrs) {
    ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  for (const ns of [NS.ra, NS.rb]) {
    inNs(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    inNs(ns, ['nft', '-f', '-'], ROUTER_NFT);
  }
  ip('-n', NS.ra, 'route', 'add', '203.0.113.80/32', 'via', '198.51.100.10');
  ip('-n', NS.rb, 'route', 'add', '203.0.113.80/32', 'via', '198.51.100.14');
  ip('-n', NS.inet, 'route', 'add', '198.51.100.0/30', 'via', '198.51.100.9');
  ip('-n', NS.inet, 'route', 'add', '198.51.100.4/30', 'via', '198.51.100.13');
  ip('-n', NS.dev, 'route', 'add', 'default', 'via', '198.51.100.1', 'dev', 'upA');
}

function tearDown(): void {
  for (const ns of Object.values(NS)) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // Not created (setup failed early): nothing to remove.
    }
  }
}

function ifindexOf(ns: string, dev: string): number {
  const links = JSON.parse(ip('-j', '-n', ns, 'link', 'show', dev)) as Array<{ ifindex: number }>;
  const index = links[0]?.ifindex;
  if (index === undefined) throw new Error(`no ${dev} in ${ns}`);
  return index;
}

let server: ChildProcess | undefined;
const serverLog: Array<{ client?: string; userAgent?: string; path?: string; listening?: string }> = [];

function startServer(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', NS.inet, process.execPath, SERVER, '203.0.113.80', '80'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    server = child;
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as (typeof serverLog)[number];
        buf = buf.slice(nl + 1);
        serverLog.push(line);
        if (line.listening) resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
}

/** Waits until the server logged `count` requests (its stdout may trail the probe's reply). */
async function serverRequests(count: number): Promise<typeof serverLog> {
  for (let i = 0; i < 200; i++) {
    const requests = serverLog.filter((l) => l.client !== undefined);
    if (requests.length >= count) return requests;
    await new Promise((r) => setTimeout(r, 10));
  }
  return serverLog.filter((l) => l.client !== undefined);
}

const ifindex: Record<'upA' | 'upB', number> = { upA: 0, upB: 0 };

async function probe(uplink: 'upA' | 'upB', connectTimeoutMs = 0): Promise<OnlineCheckResult> {
  const request: OnlineCheckRequest = {
    serviceId: `ethernet_${uplink}`,
    family: 4,
    ifname: uplink,
    ifindex: ifindex[uplink],
    localAddress: uplink === 'upA' ? '198.51.100.2' : '198.51.100.6',
    url: URL_,
  };
  const { stdout } = await execFileAsync(
    'ip',
    [
      'netns',
      'exec',
      NS.dev,
      process.execPath,
      '--import',
      'tsx',
      DRIVER,
      JSON.stringify({ request, connectTimeoutMs }),
    ],
    { cwd: ROOT, timeout: 30_000 },
  );
  return JSON.parse(stdout) as OnlineCheckResult;
}

describe.skipIf(!isRoot)('online probe bound to the service interface (namespaces)', () => {
  beforeAll(async () => {
    setUp();
    ifindex.upA = ifindexOf(NS.dev, 'upA');
    ifindex.upB = ifindexOf(NS.dev, 'upB');
    await startServer();
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server?.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    tearDown();
  });

  it('A (the main default) is online, seen from A, forwarded by router A', async () => {
    const before = serverLog.length;
    const a0 = forwarded(NS.ra);
    expect(await probe('upA')).toEqual({ kind: 'online' });
    const seen = (await serverRequests(1)).at(-1);
    expect(serverLog.length).toBeGreaterThan(before);
    expect(seen).toEqual({ client: '198.51.100.2', userAgent: 'ConnMan/1.41 wispr', path: '/online/status.html' });
    expect(forwarded(NS.ra)).toBeGreaterThan(a0);
  });

  it('B with no route through B fails (connect times out) instead of going out through A', async () => {
    const a0 = forwarded(NS.ra, 'arrived');
    const b0 = forwarded(NS.rb, 'arrived');
    const requests = (await serverRequests(1)).length;
    expect(await probe('upB', 1500)).toEqual({ kind: 'failure', reason: 'connect timeout (1500 ms)' });
    // The device-bound socket treats the server as on-link on upB and ARPs for it; no SYN leaves.
    expect(forwarded(NS.ra, 'arrived')).toBe(a0);
    expect(forwarded(NS.rb, 'arrived')).toBe(b0);
    expect((await serverRequests(0)).length).toBe(requests);
  });

  it('B with a lower-priority default via B is online, seen from B, forwarded by router B only', async () => {
    ip('-n', NS.dev, 'route', 'add', 'default', 'via', '198.51.100.5', 'dev', 'upB', 'metric', '1000');
    try {
      const a0 = forwarded(NS.ra);
      const b0 = forwarded(NS.rb);
      const count = (await serverRequests(1)).length;
      expect(await probe('upB')).toEqual({ kind: 'online' });
      const seen = (await serverRequests(count + 1)).at(-1);
      expect(seen?.client).toBe('198.51.100.6');
      expect(forwarded(NS.rb)).toBeGreaterThan(b0);
      expect(forwarded(NS.ra)).toBe(a0);
    } finally {
      ip('-n', NS.dev, 'route', 'del', 'default', 'via', '198.51.100.5', 'dev', 'upB', 'metric', '1000');
    }
  });

  it('B is online through a per-service table reached by a source rule (what the daemon installs)', async () => {
    ip('-n', NS.dev, 'route', 'add', 'default', 'via', '198.51.100.5', 'dev', 'upB', 'table', '200');
    ip('-n', NS.dev, 'rule', 'add', 'from', '198.51.100.6', 'lookup', '200', 'priority', '100');
    try {
      const a0 = forwarded(NS.ra);
      const b0 = forwarded(NS.rb);
      const count = (await serverRequests(1)).length;
      expect(await probe('upB')).toEqual({ kind: 'online' });
      expect((await serverRequests(count + 1)).at(-1)?.client).toBe('198.51.100.6');
      expect(forwarded(NS.rb)).toBeGreaterThan(b0);
      expect(forwarded(NS.ra)).toBe(a0);
    } finally {
      ip('-n', NS.dev, 'rule', 'del', 'from', '198.51.100.6', 'lookup', '200', 'priority', '100');
      ip('-n', NS.dev, 'route', 'flush', 'table', '200');
    }
  });

  it('router B dropping traffic makes B fail (timeout) while A stays online', async () => {
    ip('-n', NS.dev, 'route', 'add', 'default', 'via', '198.51.100.5', 'dev', 'upB', 'metric', '1000');
    inNs(NS.rb, ['nft', 'insert', 'rule', 'ip', 'opcount', 'pass', 'ip', 'daddr', '203.0.113.80', 'drop']);
    try {
      const b0 = forwarded(NS.rb);
      const arrivedB = forwarded(NS.rb, 'arrived');
      const arrivedA = forwarded(NS.ra, 'arrived');
      const count = (await serverRequests(1)).length;
      expect(await probe('upB', 1500)).toEqual({ kind: 'failure', reason: 'connect timeout (1500 ms)' });
      expect((await serverRequests(0)).length).toBe(count);
      // The SYNs reached router B (and not A), and B forwarded none of them.
      expect(forwarded(NS.rb, 'arrived')).toBeGreaterThan(arrivedB);
      expect(forwarded(NS.ra, 'arrived')).toBe(arrivedA);
      expect(forwarded(NS.rb)).toBe(b0);
      expect(await probe('upA')).toEqual({ kind: 'online' });
      expect((await serverRequests(count + 1)).at(-1)?.client).toBe('198.51.100.2');
    } finally {
      ip('-n', NS.dev, 'route', 'del', 'default', 'via', '198.51.100.5', 'dev', 'upB', 'metric', '1000');
    }
  });
});
