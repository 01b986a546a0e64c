/**
 * The udhcpc DHCP client adapter against a real DHCP server. dnsmasq serves eth-b's subnet from
 * router 2; the adapter runs in the device namespace through drivers/dhcp-driver.ts.
 *
 * | step                                   | expected                                                        |
 * |----------------------------------------|-----------------------------------------------------------------|
 * | start on eth-b (its address flushed)   | `bound`: an address from the pool, /29, router, DNS, lease time, |
 * |                                        | server id as served; eth-b still has no IPv4 address (report-only)|
 * | address added (as the daemon would), renew | `renew` of the same address; the server saw a second REQUEST |
 * | SIGKILL the udhcpc child               | the supervisor starts a new one, which binds the same address    |
 * | stop                                   | `release`; the server logged DHCPRELEASE and dropped the lease;  |
 * |                                        | the child is gone and no new one starts                          |
 * | driver SIGKILLed with udhcpc running,  | the orphan udhcpc (found by its pid file and command line) is   |
 * | a new driver starts eth-b              | ended before the new one starts, which binds again              |
 *
 * Needs busybox udhcpc, dnsmasq (dnsmasq-base) and ethtool besides the harness's tools.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DhcpLeaseEvent } from '../../daemon/core/manage-plan.js';
import { type DhcpServer, MIN_LEASE_SECONDS, startDhcpServer } from './harness/dhcp-server.js';
import { waitFor } from './harness/exec.js';
import { createSandbox, type Sandbox, type SandboxProcess, type Uplink } from './harness/sandbox.js';
import { canRunWith } from './support/manage-world.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = join(ROOT, 'test/integration/drivers/dhcp-driver.ts');
const DNS = ['203.0.113.53', '203.0.113.54'];
const LEASE_SECONDS = MIN_LEASE_SECONDS;

const supported = canRunWith('dhcp-client', ['udhcpc', 'dnsmasq', 'ethtool'], 'udhcpc dnsmasq-base ethtool');

type Event = DhcpLeaseEvent & { ifname: string };

/** The driver process and the socket to it. */
class Driver {
  #seq = 0;
  #pending = new Map<number, (a: { id: number; ok: boolean; result?: unknown; error?: string }) => void>();
  constructor(
    readonly proc: SandboxProcess,
    readonly sock: Socket,
  ) {
    createInterface({ input: sock }).on('line', (line) => {
      const a = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string };
      this.#pending.get(a.id)?.(a);
      this.#pending.delete(a.id);
    });
    sock.on('error', () => undefined);
  }

  async call<T = unknown>(op: string, ifname?: string): Promise<T> {
    const id = ++this.#seq;
    const answer = new Promise<{ ok: boolean; result?: unknown; error?: string }>((resolve) =>
      this.#pending.set(id, resolve),
    );
    this.sock.write(`${JSON.stringify({ id, op, ifname })}\n`);
    const a = await answer;
    if (!a.ok) throw new Error(`driver ${op}: ${a.error}; stderr: ${this.proc.stderr.slice(-1000)}`);
    return a.result as T;
  }

  events(): Promise<Event[]> {
    return this.call<Event[]>('events');
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.runIf(supported)('udhcpc DHCP client adapter', () => {
  let sb: Sandbox;
  let u: Uplink;
  let dhcp: DhcpServer;
  let driver: Driver;
  let leaseFile: string;
  let pool: readonly string[];

  const v4Addresses = async (): Promise<string[]> => {
    const { stdout } = await sb.run(sb.devNs, ['ip', '-j', '-4', 'addr', 'show', 'dev', u.ifname]);
    return (JSON.parse(stdout || '[]') as Array<{ addr_info: Array<{ local: string }> }>).flatMap((l) =>
      l.addr_info.map((a) => a.local),
    );
  };
  const waitEvent = (what: string, pick: (events: Event[]) => Event | undefined, timeoutMs = 20_000) =>
    waitFor(what, async () => pick(await driver.events()), { timeoutMs, intervalMs: 100 });

  beforeAll(async () => {
    sb = await createSandbox({ dbus: false });
    u = sb.uplink('eth-b');
    await sb.run(sb.devNs, ['ip', '-4', 'addr', 'flush', 'dev', u.ifname]);
    // Serves the four addresses after the device's static one (.19-.22), checksum offload off.
    dhcp = await startDhcpServer(sb, u.name, { dns: DNS, leaseSeconds: LEASE_SECONDS });
    pool = dhcp.pool;
    leaseFile = dhcp.leaseFile;
    driver = await startDriver('dhcp-driver-1.sock');
  });

  async function startDriver(socketName: string): Promise<Driver> {
    const socketPath = join(sb.tmpDir, socketName);
    const options = {
      socket: socketPath,
      runDir: sb.tmpDir,
      retrySeconds: 1,
      failPauseSeconds: 1,
      backoff: { baseMs: 200, maxMs: 2000, stableMs: 60_000 },
    };
    const proc = sb.spawn(sb.devNs, [process.execPath, '--import', 'tsx', DRIVER, JSON.stringify(options)], {
      cwd: ROOT,
    });
    await proc.waitForLine(/^ready$/, { stream: 'stdout', timeoutMs: 30_000 });
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath, () => resolve(s));
      s.once('error', reject);
    });
    return new Driver(proc, sock);
  }

  afterAll(async () => {
    driver?.sock.destroy();
    await sb?.destroy();
  });

  let bound: Event;
  let firstPid: number;

  it('reports a bound lease as served and leaves the interface alone', async () => {
    await driver.call('start', u.ifname);
    bound = await waitEvent('bound', (es) => es.find((e) => e.type === 'bound'));
    expect(pool).toContain(bound.address);
    expect(bound).toEqual({
      ifname: u.ifname,
      type: 'bound',
      address: bound.address,
      prefixLength: 29,
      router: u.gw4,
      dns: DNS,
      leaseSeconds: LEASE_SECONDS,
      serverId: u.gw4,
    });
    expect(await v4Addresses()).toEqual([]);
    expect(readFileSync(leaseFile, 'utf8')).toContain(` ${bound.address} `);
    firstPid = (await driver.call<number | null>('pid', u.ifname)) ?? 0;
    expect(firstPid).toBeGreaterThan(0);
  });

  it('renews the same lease once the daemon has configured the address', async () => {
    // udhcpc renews by unicast from the leased address, so it must be on the interface first.
    await sb.run(sb.devNs, ['ip', 'addr', 'add', `${bound.address}/${bound.prefixLength}`, 'dev', u.ifname]);
    const requestsBefore = dhcp.count(/DHCPACK/);
    await driver.call('renew', u.ifname);
    const renew = await waitEvent('renew', (es) => es.find((e) => e.type === 'renew'));
    expect(renew).toMatchObject({ address: bound.address, router: u.gw4, dns: DNS });
    const requestsAfter = dhcp.count(/DHCPACK/);
    expect(requestsAfter).toBeGreaterThan(requestsBefore);
  });

  it('restarts a killed client, which binds the same address again', async () => {
    const boundsBefore = (await driver.events()).filter((e) => e.type === 'bound').length;
    process.kill(firstPid, 'SIGKILL');
    const newPid = await waitFor(
      'a new udhcpc',
      async () => {
        const pid = await driver.call<number | null>('pid', u.ifname);
        return pid !== null && pid !== firstPid ? pid : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(alive(firstPid)).toBe(false);
    expect(alive(newPid)).toBe(true);
    const rebound = await waitEvent('bound after restart', (es) => es.filter((e) => e.type === 'bound')[boundsBefore]);
    expect(rebound.address).toBe(bound.address);
    expect((await driver.events()).some((e) => e.type === 'expire')).toBe(false);
  });

  it('stop releases the lease and ends the child', async () => {
    const pid = await driver.call<number | null>('pid', u.ifname);
    expect(pid).not.toBeNull();
    await driver.call('stop', u.ifname);
    const events = await driver.events();
    expect(events.at(-1)).toMatchObject({ type: 'release', address: bound.address });
    expect(events.filter((e) => e.type === 'release')).toHaveLength(1);
    expect(alive(pid ?? 0)).toBe(false);
    await waitFor('DHCPRELEASE at the server', () => (/DHCPRELEASE/.test(dhcp.log()) ? true : undefined), {
      timeoutMs: 5000,
    });
    await waitFor(
      'lease dropped from the lease file',
      () => (readFileSync(leaseFile, 'utf8').includes(` ${bound.address} `) ? undefined : true),
      { timeoutMs: 5000 },
    );
    // No restart after a stop, even well past the backoff.
    await new Promise((r) => setTimeout(r, 600));
    expect(await driver.call('pid', u.ifname)).toBeNull();
  });

  it('ends a udhcpc left behind by a killed daemon before starting its own', async () => {
    const seen = (await driver.events()).length;
    await driver.call('start', u.ifname);
    await waitEvent('bound again', (es) => es.slice(seen).find((e) => e.type === 'bound'));
    const orphan = (await driver.call<number | null>('pid', u.ifname)) ?? 0;
    expect(orphan).toBeGreaterThan(0);
    process.kill(driver.proc.pid, 'SIGKILL');
    await driver.proc.exited;
    driver.sock.destroy();
    expect(alive(orphan)).toBe(true);
    driver = await startDriver('dhcp-driver-2.sock');
    await driver.call('start', u.ifname);
    const lease = await waitEvent('bound from the new daemon', (es) => es.find((e) => e.type === 'bound'));
    expect(pool).toContain(lease.address);
    expect(alive(orphan)).toBe(false);
    const pid = await driver.call<number | null>('pid', u.ifname);
    expect(pid).not.toBeNull();
    expect(pid).not.toBe(orphan);
    await driver.call('stop', u.ifname);
  });
});
