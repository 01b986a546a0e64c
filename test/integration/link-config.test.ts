/**
 * The link-configuration adapter (daemon/adapters/rtnetlink/link-config.ts) against a real kernel
 * inside a sandbox. eth-b and eth-c are the managed devices: their harness-given addresses and
 * defaults are flushed first; eth-a stays unmanaged and must come out untouched. The adapter
 * runs in the device namespace in drivers/link-config-driver.ts (long-lived, so it receives the
 * kernel's route notifications between calls).
 *
 * | step                                         | expected                                                  |
 * |----------------------------------------------|-----------------------------------------------------------|
 * | static addresses on eth-b/eth-c              | exactly those global addresses, tagged proto 0x6e         |
 * | eth-b default metric 50 (beats eth-a's 100)  | main table shows it; request bound to eth-b's address OK  |
 * | promote eth-b (0), eth-c low (ConnMan metric)| both families as expected; request via router 2           |
 * | demote eth-b, promote eth-c                  | swapped; request bound to eth-c's address via router 3    |
 * | second driver without notifications         | its new route is in the kernel but stays 'added'          |
 * | link down / up through applyLinkConfig       | flags follow; kernel-deleted default goes 'inactive'      |
 * | release everything                           | our addresses and defaults gone, link-local kept          |
 * | all along                                    | eth-a's addresses and routes identical to the start       |
 */
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DesiredDefault, DesiredLink, GatewayLifecycle } from '../../daemon/adapters/rtnetlink/link-config.js';
import { metricFor } from '../../daemon/adapters/rtnetlink/link-config.js';
import { createSandbox, requireRoot, type Sandbox, type SandboxProcess, type Uplink } from './harness/sandbox.js';

const supported = requireRoot();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = join(ROOT, 'test/integration/drivers/link-config-driver.ts');

/** One driver process and its socket. */
class Driver {
  #sock!: Socket;
  #buf = '';
  #next = 1;
  #pending = new Map<number, (r: { ok: boolean; result?: unknown; error?: string }) => void>();
  proc!: SandboxProcess;

  async start(sb: Sandbox, name: string, extra: string[] = []): Promise<void> {
    const path = join(sb.tmpDir, `${name}.sock`);
    this.proc = sb.spawn(sb.devNs, [process.execPath, '--import', 'tsx', DRIVER, path, ...extra], { cwd: ROOT });
    await this.proc.waitForLine(/^ready$/, { stream: 'stdout', timeoutMs: 30_000 });
    this.#sock = createConnection(path);
    await new Promise<void>((res, rej) => this.#sock.once('connect', res).once('error', rej));
    this.#sock.on('data', (c) => {
      this.#buf += c.toString('utf8');
      let nl: number;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(this.#buf.slice(0, nl)) as { id: number; ok: boolean };
        this.#buf = this.#buf.slice(nl + 1);
        this.#pending.get(msg.id)?.(msg);
        this.#pending.delete(msg.id);
      }
    });
  }

  /** Sends a command; rejects with the driver's error (and stderr) when it failed. */
  async call<T>(cmd: string, args?: unknown): Promise<T> {
    const id = this.#next++;
    const reply = await new Promise<{ ok: boolean; result?: unknown; error?: string }>((res) => {
      this.#pending.set(id, res);
      this.#sock.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
    if (!reply.ok) throw new Error(`${cmd}: ${reply.error}\n${this.proc.stderr}`);
    return reply.result as T;
  }

  async stop(): Promise<void> {
    await this.call('exit').catch(() => undefined);
    this.#sock.destroy();
    await this.proc.kill();
  }
}

let sb: Sandbox;
let a: Uplink;
let b: Uplink;
let c: Uplink;
let drv: Driver;
let unmanagedBefore: string;

const B4 = '198.51.100.20';
const B6 = '2001:db8:2::20';
const C4 = '198.51.100.28';
const C6 = '2001:db8:3::28';
const FOREIGN = '198.51.100.21';

async function ipj(...args: string[]): Promise<Array<Record<string, unknown>>> {
  const { stdout } = await sb.run(sb.devNs, ['ip', '-j', ...args]);
  return JSON.parse(stdout || '[]') as Array<Record<string, unknown>>;
}

/** Global addresses of a device as `addr/len`, sorted. */
async function globalAddrs(dev: string): Promise<string[]> {
  const [link] = await ipj('addr', 'show', 'dev', dev);
  const info = (link?.addr_info ?? []) as Array<{ local: string; prefixlen: number; scope: string }>;
  return info
    .filter((i) => i.scope === 'global')
    .map((i) => `${i.local}/${i.prefixlen}`)
    .sort();
}

/** Main-table defaults of the device namespace as `fam dev via metric`, sorted. */
async function defaults(): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    for (const r of await ipj(fam, 'route', 'show', 'default')) {
      out.push(`${fam} ${String(r.dev)} via ${String(r.gateway ?? '-')} metric ${String(r.metric ?? 0)}`);
    }
  }
  return out.sort();
}

/** Everything about eth-a: addresses, routes of both families, link flags. */
async function unmanagedDump(): Promise<string> {
  const parts = [
    await ipj('addr', 'show', 'dev', a.ifname),
    await ipj('-4', 'route', 'show', 'table', 'all', 'dev', a.ifname),
    await ipj('-6', 'route', 'show', 'table', 'all', 'dev', a.ifname),
  ];
  return JSON.stringify(parts);
}

const links = (upB: boolean, withAddrs = true): DesiredLink[] => [
  {
    ifindex: b.ifindex,
    up: upB,
    addresses: withAddrs
      ? [
          { family: 4, address: B4, prefixLength: 29 },
          { family: 6, address: B6, prefixLength: 64 },
        ]
      : [],
  },
  {
    ifindex: c.ifindex,
    up: true,
    addresses: withAddrs
      ? [
          { family: 4, address: C4, prefixLength: 29 },
          { family: 6, address: C6, prefixLength: 64 },
        ]
      : [],
  },
];

const dflt = (u: Uplink, metric: number): DesiredDefault[] => [
  { ifindex: u.ifindex, family: 4, gateway: u.gw4, metric },
  { ifindex: u.ifindex, family: 6, gateway: u.gw6 ?? null, metric },
];

const applyDefaults = (desired: DesiredDefault[]) => drv.call('defaults', { desired, managed: [b.ifindex, c.ifindex] });
const lifecycle = () => drv.call<GatewayLifecycle[]>('lifecycle');

async function bound(addr: string) {
  await sb.clearHttpLog();
  const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/x?bytes=100`, {
    localAddress: addr,
    timeoutMs: 3000,
  });
  const log = await sb.httpLog();
  return { ok: r.ok, clients: log.map((e) => e.client) };
}

describe.skipIf(!supported)('rtnetlink link configuration (device namespace)', () => {
  beforeAll(async () => {
    sb = await createSandbox({ dbus: false });
    a = sb.uplink('eth-a');
    b = sb.uplink('eth-b');
    c = sb.uplink('eth-c');
    for (const u of [b, c]) {
      await sb.run(sb.devNs, ['ip', 'addr', 'flush', 'dev', u.ifname, 'scope', 'global']);
      for (const fam of ['-4', '-6']) await sb.run(sb.devNs, ['ip', fam, 'route', 'flush', 'default', 'dev', u.ifname]);
    }
    unmanagedBefore = await unmanagedDump();
    drv = new Driver();
    await drv.start(sb, 'lc');
  }, 120_000);

  afterAll(async () => {
    await drv?.stop();
    await sb?.destroy();
  });

  it('starts from flushed eth-b/eth-c', async () => {
    expect(await globalAddrs(b.ifname)).toEqual([]);
    expect(await defaults()).toEqual([
      `-4 eth-a via ${a.gw4} metric ${a.metric}`,
      `-6 eth-a via ${a.gw6} metric ${a.metric}`,
    ]);
  });

  it('applies static addresses; a second apply sends nothing; a foreign address is left alone', async () => {
    const r = await drv.call<{ ops: number }>('links', links(true));
    expect(r.ops).toBe(4);
    expect(await globalAddrs(b.ifname)).toEqual([`${B4}/29`, `${B6}/64`].sort());
    expect(await globalAddrs(c.ifname)).toEqual([`${C4}/29`, `${C6}/64`].sort());
    // Added by someone else (no IFA_PROTO tag): not desired, but not ours to delete either.
    await sb.run(sb.devNs, ['ip', 'addr', 'add', `${FOREIGN}/29`, 'dev', b.ifname]);
    expect((await drv.call<{ ops: number }>('links', links(true))).ops).toBe(0);
    expect(await globalAddrs(b.ifname)).toEqual([`${B4}/29`, `${B6}/64`, `${FOREIGN}/29`].sort());
  });

  it('a default via eth-b with metric 50 carries traffic bound to its address', async () => {
    await applyDefaults(dflt(b, 50));
    expect(await defaults()).toEqual(
      [
        `-4 eth-a via ${a.gw4} metric ${a.metric}`,
        `-6 eth-a via ${a.gw6} metric ${a.metric}`,
        `-4 eth-b via ${b.gw4} metric 50`,
        `-6 eth-b via ${b.gw6} metric 50`,
      ].sort(),
    );
    const req = await bound(B4);
    expect(req.ok).toBe(true);
    expect(req.clients).toEqual([B4]);
    expect((await sb.routerCounters('eth-b')).fwdOut).toBeGreaterThan(0);
  });

  it('promote eth-b to 0, eth-c low; then demote eth-b and promote eth-c', async () => {
    const lowB = metricFor(b.ifindex, false);
    const lowC = metricFor(c.ifindex, false);
    await applyDefaults([...dflt(b, 0), ...dflt(c, lowC)]);
    expect(await defaults()).toEqual(
      [
        `-4 eth-a via ${a.gw4} metric ${a.metric}`,
        `-6 eth-a via ${a.gw6} metric ${a.metric}`,
        `-4 eth-b via ${b.gw4} metric 0`,
        `-6 eth-b via ${b.gw6} metric 1024`,
        `-4 eth-c via ${c.gw4} metric ${lowC}`,
        `-6 eth-c via ${c.gw6} metric ${lowC}`,
      ].sort(),
    );
    expect((await bound(B4)).ok).toBe(true);
    // eth-c's address with eth-b as the default: leaves via eth-b, router 2 drops it as spoofed.
    expect((await bound(C4)).ok).toBe(false);

    await applyDefaults([...dflt(b, lowB), ...dflt(c, 0)]);
    expect(await defaults()).toEqual(
      [
        `-4 eth-a via ${a.gw4} metric ${a.metric}`,
        `-6 eth-a via ${a.gw6} metric ${a.metric}`,
        `-4 eth-b via ${b.gw4} metric ${lowB}`,
        `-6 eth-b via ${b.gw6} metric ${lowB}`,
        `-4 eth-c via ${c.gw4} metric 0`,
        `-6 eth-c via ${c.gw6} metric 1024`,
      ].sort(),
    );
    expect(await bound(C4)).toEqual({ ok: true, clients: [C4] });
    for (const route of [...dflt(b, lowB), ...dflt(c, 0)])
      expect(await drv.call<boolean>('waitActive', { route, timeoutMs: 5000 })).toBe(true);
    const lc = await lifecycle();
    const active = lc
      .filter((e) => e.state === 'active')
      .map((e) => e.key)
      .sort();
    expect(active).toEqual(
      [
        `4 default via ${b.gw4} dev #${b.ifindex} metric ${lowB}`,
        `6 default via ${b.gw6} dev #${b.ifindex} metric ${lowB}`,
        `4 default via ${c.gw4} dev #${c.ifindex} metric 0`,
        `6 default via ${c.gw6} dev #${c.ifindex} metric 1024`,
      ].sort(),
    );
    // Every route we added became active through the kernel's notification, not through a dump.
    expect(lc.filter((e) => e.state === 'active').every((e) => e.via === 'kernel-new')).toBe(true);
    // The ones replaced or deleted are inactive again.
    expect(lc.find((e) => e.key === `4 default via ${b.gw4} dev #${b.ifindex} metric 0`)?.state).toBe('inactive');
    expect(lc.find((e) => e.key === `4 default via ${b.gw4} dev #${b.ifindex} metric 50`)?.state).toBe('inactive');
  });

  it('without route notifications a route we add stays "added" although the kernel has it', async () => {
    const quiet = new Driver();
    await quiet.start(sb, 'quiet', ['--no-events']);
    try {
      const route: DesiredDefault = { ifindex: c.ifindex, family: 4, gateway: c.gw4, metric: 0 };
      // Same desired state as the main driver holds: adopted from the dump (already there).
      await quiet.call('defaults', {
        desired: [...dflt(b, metricFor(b.ifindex, false)), route, dflt(c, 0)[1]],
        managed: [b.ifindex, c.ifindex],
      });
      const extra: DesiredDefault = { ifindex: b.ifindex, family: 4, gateway: b.gw4, metric: 77 };
      await quiet.call('defaults', {
        desired: [...dflt(b, metricFor(b.ifindex, false)), route, dflt(c, 0)[1], extra],
        managed: [b.ifindex, c.ifindex],
      });
      expect(await defaults()).toContain(`-4 eth-b via ${b.gw4} metric 77`);
      const lc = await quiet.call<GatewayLifecycle[]>('lifecycle');
      expect(lc.find((e) => e.key === `4 default via ${b.gw4} dev #${b.ifindex} metric 77`)?.state).toBe('added');
      expect(lc.find((e) => e.key === `4 default via ${c.gw4} dev #${c.ifindex} metric 0`)).toMatchObject({
        state: 'active',
        via: 'kernel-present',
      });
      expect(await quiet.call<boolean>('waitActive', { route: extra, timeoutMs: 300 })).toBe(false);
    } finally {
      await quiet.stop();
    }
    // The main driver (listening) saw nothing of ours being added for that key: it is not tracked there.
    await applyDefaults([...dflt(b, metricFor(b.ifindex, false)), ...dflt(c, 0)]);
    expect(await defaults()).not.toContain(`-4 eth-b via ${b.gw4} metric 77`);
  });

  it('link down and up through applyLinkConfig', async () => {
    const lowB = metricFor(b.ifindex, false);
    await drv.call('links', links(false));
    expect(((await ipj('link', 'show', 'dev', b.ifname))[0]?.flags as string[]).includes('UP')).toBe(false);
    // The kernel flushed eth-b's v4 default with the link (without a notification): the next
    // apply reads it back as gone, and cannot add it while the link is down (skipped, no error).
    const key4 = `4 default via ${b.gw4} dev #${b.ifindex} metric ${lowB}`;
    expect(await defaults()).not.toContain(`-4 eth-b via ${b.gw4} metric ${lowB}`);
    const res = await applyDefaults([...dflt(b, lowB), ...dflt(c, 0)]);
    expect((res as { skipped: string[] }).skipped).toContain(key4);
    const lc = await lifecycle();
    expect(lc.find((e) => e.key === key4)?.state).toBe('inactive');
    expect(lc.find((e) => e.key === `4 default via ${c.gw4} dev #${c.ifindex} metric 0`)?.state).toBe('active');
    expect(await globalAddrs(b.ifname)).toEqual([`${B4}/29`, `${B6}/64`, `${FOREIGN}/29`].sort());

    await drv.call('links', links(true));
    expect(((await ipj('link', 'show', 'dev', b.ifname))[0]?.flags as string[]).includes('UP')).toBe(true);
    // Wait for the carrier: the v6 gateway must be reachable for the route to be accepted.
    await sb.setCarrier('eth-b', true);
    await applyDefaults([...dflt(b, lowB), ...dflt(c, 0)]);
    expect(await drv.call<boolean>('waitActive', { route: dflt(b, lowB)[0], timeoutMs: 5000 })).toBe(true);
    expect(await defaults()).toContain(`-4 eth-b via ${b.gw4} metric ${lowB}`);
  });

  it('releasing everything removes our addresses and defaults only', async () => {
    await applyDefaults([]);
    await drv.call('links', links(true, false));
    expect(await globalAddrs(b.ifname)).toEqual([`${FOREIGN}/29`]);
    expect(await globalAddrs(c.ifname)).toEqual([]);
    const [link] = await ipj('addr', 'show', 'dev', b.ifname);
    expect(((link?.addr_info ?? []) as Array<{ scope: string }>).some((i) => i.scope === 'link')).toBe(true);
    expect(await defaults()).toEqual([
      `-4 eth-a via ${a.gw4} metric ${a.metric}`,
      `-6 eth-a via ${a.gw6} metric ${a.metric}`,
    ]);
    const lc = await lifecycle();
    expect(lc.length).toBeGreaterThan(0);
    expect(lc.every((e) => e.state === 'inactive')).toBe(true);
  });

  it("leaves the unmanaged eth-a's addresses and routes untouched", async () => {
    expect(await unmanagedDump()).toBe(unmanagedBefore);
  });
});
