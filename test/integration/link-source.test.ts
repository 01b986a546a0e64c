/**
 * The rtnetlink link source against a real kernel: a private "device" namespace whose uplinks
 * u1 and u2 are veths to p1 and p2 in a private "router" namespace, the source running inside the
 * device namespace (drivers/link-source-driver.ts), and assertions on its initial dump and on
 * the events that `ip` changes produce.
 *
 * Needs root (network namespaces). Nothing touches the root namespace.
 */

import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinkFacts } from '../../daemon/core/services.js';
import type { LinkEvent } from '../../daemon/ports.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const DRIVER = join(HERE, 'drivers', 'link-source-driver.ts');

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('SKIP test/integration/link-source.test.ts: needs root to create network namespaces');

type Line =
  | { kind: 'dump'; t: string; links: LinkFacts[] }
  | { kind: 'event'; t: string; event: LinkEvent }
  | { kind: 'log'; msg: string }
  | { kind: 'error'; msg: string }
  | { kind: 'stopped' };

/** Collects the driver's JSON lines and lets a test wait for one matching a predicate. */
class LineLog {
  readonly lines: Line[] = [];
  private readonly wakers = new Set<() => void>();

  push(line: Line): void {
    this.lines.push(line);
    for (const wake of this.wakers) wake();
  }

  /** First line at index ≥ `from` matching `pred`; fails (not hangs) after `guardMs`. */
  async waitFor(
    what: string,
    pred: (l: Line) => boolean,
    from = 0,
    guardMs = 15_000,
  ): Promise<{ line: Line; index: number }> {
    const deadline = Date.now() + guardMs;
    for (let i = from; ; ) {
      for (; i < this.lines.length; i++) {
        const line = this.lines[i] as Line;
        if (pred(line)) return { line, index: i };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what}; last lines:\n${this.lines
            .slice(-8)
            .map((l) => JSON.stringify(l))
            .join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.wakers.add(wake);
      });
    }
  }
}

const linkEvent = (l: Line, name: string, pred: (f: LinkFacts) => boolean = () => true): boolean =>
  l.kind === 'event' && l.event.type === 'link' && l.event.facts.name === name && pred(l.event.facts);
const factsOf = (l: Line): LinkFacts => {
  if (l.kind !== 'event' || l.event.type !== 'link') throw new Error(`not a link event: ${JSON.stringify(l)}`);
  return l.event.facts;
};
const hasAddress = (f: LinkFacts, address: string) => f.addresses.some((a) => a.address === address);
const hasGateway = (f: LinkFacts, gateway: string, metric: number) =>
  f.gateways.some((g) => g.gateway === gateway && g.metric === metric);

describe.skipIf(!isRoot)('rtnetlink link source (real kernel, private namespace)', () => {
  const suffix = randomBytes(4).toString('hex');
  const ns = `nsls-${suffix}`;
  const nsr = `nslr-${suffix}`;
  const log = new LineLog();
  let driver: ChildProcessWithoutNullStreams | null = null;
  let driverExit: Promise<number | null> | null = null;
  let stderr = '';
  let dump: LinkFacts[] = [];
  const ifindex = new Map<string, number>();

  const ip = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  const ipr = (...args: string[]) => execFileSync('ip', ['-n', nsr, ...args], { encoding: 'utf8' });

  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['netns', 'add', nsr]);
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', 'u1', 'type', 'veth', 'peer', 'name', 'p1', 'netns', nsr);
    ip('link', 'add', 'u2', 'type', 'veth', 'peer', 'name', 'p2', 'netns', nsr);
    for (const l of ['u1', 'u2']) ip('link', 'set', l, 'up');
    for (const l of ['p1', 'p2']) ipr('link', 'set', l, 'up');
    ip('addr', 'add', '198.51.100.2/24', 'dev', 'u1');
    ipr('addr', 'add', '198.51.100.1/24', 'dev', 'p1');
    ip('addr', 'add', '2001:db8:1::2/64', 'dev', 'u1', 'nodad');
    ipr('addr', 'add', '2001:db8:1::1/64', 'dev', 'p1', 'nodad');
    // Finite lifetimes: what a DHCP client / SLAAC would install.
    ip('addr', 'add', '203.0.113.2/24', 'dev', 'u2', 'valid_lft', '3600', 'preferred_lft', '3600');
    ipr('addr', 'add', '203.0.113.1/24', 'dev', 'p2');
    ip('addr', 'add', '2001:db8:2::2/64', 'dev', 'u2', 'nodad', 'valid_lft', '3600', 'preferred_lft', '3600');
    ipr('addr', 'add', '2001:db8:2::1/64', 'dev', 'p2', 'nodad');
    ip('route', 'add', 'default', 'via', '198.51.100.1', 'dev', 'u1', 'metric', '100');
    ip('route', 'add', 'default', 'via', '203.0.113.1', 'dev', 'u2', 'metric', '200');
    ip('-6', 'route', 'add', 'default', 'via', '2001:db8:1::1', 'dev', 'u1', 'metric', '100');

    const options = {
      overrides: [
        { glob: 'u2', bearer: 'cellular' },
        { glob: 'wan*', bearer: 'cellular' },
      ],
      ignore: ['n2'],
    };
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--import', 'tsx', DRIVER, JSON.stringify(options)],
      {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    driver = child;
    driverExit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (text) => log.push(JSON.parse(text) as Line));
    const { line } = await log.waitFor('the initial dump', (l) => l.kind === 'dump' || l.kind === 'error', 0, 30_000);
    if (line.kind !== 'dump') throw new Error(`driver failed: ${JSON.stringify(line)} ${stderr}`);
    dump = line.links;
    for (const l of dump) ifindex.set(l.name, l.ifindex);
  });

  afterAll(() => {
    if (driver && driver.exitCode === null && driver.pid) {
      try {
        process.kill(driver.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const n of [ns, nsr]) {
      try {
        execFileSync('ip', ['netns', 'del', n]);
      } catch {
        // never created
      }
    }
  });

  it('dumps every link with its addresses, gateways and bearer', () => {
    const byName = new Map(dump.map((l) => [l.name, l]));
    expect([...byName.keys()].sort()).toEqual(['lo', 'u1', 'u2']);

    const u1 = byName.get('u1') as LinkFacts;
    expect(u1).toMatchObject({ kind: 'veth', bearer: 'ethernet', adminUp: true, carrier: true, mtu: 1500 });
    expect(u1.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(u1.addresses).toContainEqual({
      family: 4,
      address: '198.51.100.2',
      prefixLength: 24,
      method: 'manual',
      scope: 'global',
    });
    expect(u1.addresses).toContainEqual({
      family: 6,
      address: '2001:db8:1::2',
      prefixLength: 64,
      method: 'manual',
      scope: 'global',
    });
    expect(u1.gateways).toEqual([
      { family: 4, gateway: '198.51.100.1', metric: 100 },
      { family: 6, gateway: '2001:db8:1::1', metric: 100 },
    ]);

    const u2 = byName.get('u2') as LinkFacts;
    expect(u2.bearer).toBe('cellular'); // per-name override beats sysfs
    expect(u2.addresses).toContainEqual({
      family: 4,
      address: '203.0.113.2',
      prefixLength: 24,
      method: 'dhcp',
      scope: 'global',
    });
    expect(u2.addresses).toContainEqual({
      family: 6,
      address: '2001:db8:2::2',
      prefixLength: 64,
      method: 'auto',
      scope: 'global',
    });
    expect(u2.gateways).toEqual([{ family: 4, gateway: '203.0.113.1', metric: 200 }]);

    expect(byName.get('lo')).toMatchObject({ bearer: null, mac: '' });
    expect(byName.get('lo')?.addresses).toContainEqual({
      family: 4,
      address: '127.0.0.1',
      prefixLength: 8,
      method: 'manual',
      scope: 'host',
    });
  });

  it('reports carrier loss when the peer goes down, and its return', async () => {
    const from = log.lines.length;
    ipr('link', 'set', 'p1', 'down');
    const down = await log.waitFor('u1 carrier=false', (l) => linkEvent(l, 'u1', (f) => !f.carrier), from);
    expect(factsOf(down.line).adminUp).toBe(true);
    ipr('link', 'set', 'p1', 'up');
    const up = await log.waitFor('u1 carrier=true', (l) => linkEvent(l, 'u1', (f) => f.carrier), down.index + 1);
    expect(factsOf(up.line).adminUp).toBe(true);
  });

  it('reports an added and a removed address', async () => {
    const from = log.lines.length;
    ip('addr', 'add', '198.51.100.3/24', 'dev', 'u1');
    const added = await log.waitFor(
      'u1 with 198.51.100.3',
      (l) => linkEvent(l, 'u1', (f) => hasAddress(f, '198.51.100.3')),
      from,
    );
    expect(factsOf(added.line).addresses).toContainEqual({
      family: 4,
      address: '198.51.100.3',
      prefixLength: 24,
      method: 'manual',
      scope: 'global',
    });
    ip('addr', 'del', '198.51.100.3/24', 'dev', 'u1');
    const removed = await log.waitFor(
      'u1 without 198.51.100.3',
      (l) => linkEvent(l, 'u1', (f) => !hasAddress(f, '198.51.100.3')),
      added.index + 1,
    );
    expect(hasAddress(factsOf(removed.line), '198.51.100.2')).toBe(true);
  });

  it('reports added and removed default routes (v4 and v6)', async () => {
    let from = log.lines.length;
    ip('route', 'add', 'default', 'via', '198.51.100.1', 'dev', 'u1', 'metric', '300');
    const v4 = await log.waitFor(
      'u1 gateway metric 300',
      (l) => linkEvent(l, 'u1', (f) => hasGateway(f, '198.51.100.1', 300)),
      from,
    );
    expect(factsOf(v4.line).gateways).toHaveLength(3);
    ip('route', 'del', 'default', 'via', '198.51.100.1', 'dev', 'u1', 'metric', '300');
    await log.waitFor(
      'u1 without metric 300',
      (l) => linkEvent(l, 'u1', (f) => !hasGateway(f, '198.51.100.1', 300)),
      v4.index + 1,
    );

    from = log.lines.length;
    ip('-6', 'route', 'add', 'default', 'via', '2001:db8:2::1', 'dev', 'u2', 'metric', '50');
    const v6 = await log.waitFor(
      'u2 v6 gateway',
      (l) => linkEvent(l, 'u2', (f) => hasGateway(f, '2001:db8:2::1', 50)),
      from,
    );
    expect(factsOf(v6.line).gateways).toContainEqual({ family: 6, gateway: '2001:db8:2::1', metric: 50 });
    ip('-6', 'route', 'del', 'default', 'via', '2001:db8:2::1', 'dev', 'u2', 'metric', '50');
    const gone = await log.waitFor(
      'u2 without v6 gateway',
      (l) => linkEvent(l, 'u2', (f) => !hasGateway(f, '2001:db8:2::1', 50)),
      v6.index + 1,
    );
    expect(factsOf(gone.line).gateways).toEqual([{ family: 4, gateway: '203.0.113.1', metric: 200 }]);
  });

  it('lists a v6 address only once duplicate address detection is over', async () => {
    const from = log.lines.length;
    ip('addr', 'add', '2001:db8:1::5/64', 'dev', 'u1');
    await log.waitFor('u1 with 2001:db8:1::5', (l) => linkEvent(l, 'u1', (f) => hasAddress(f, '2001:db8:1::5')), from);
    // By the time the source lists it, the kernel no longer calls it tentative.
    const shown = ip('-6', 'addr', 'show', 'dev', 'u1', 'to', '2001:db8:1::5/128');
    expect(shown).toContain('2001:db8:1::5');
    expect(shown).not.toContain('tentative');
  });

  it('emits nothing for operations that change no fact, though the kernel notifies', async () => {
    // An independent listener proves the kernel did send notifications the source had to fold.
    const monitor = spawn('ip', ['-n', ns, '-o', 'monitor', 'link', 'address'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const seen: string[] = [];
    createInterface({ input: monitor.stdout }).on('line', (l) => seen.push(l));
    try {
      // Prime: once the monitor prints this, it is subscribed.
      let mtu = 1450;
      while (!seen.some((l) => / u2[:@ ].*mtu 14[0-9]{2}/.test(l))) {
        ip('link', 'set', 'u2', 'mtu', String(mtu++));
        await new Promise((r) => setTimeout(r, 50));
      }
      await log.waitFor('u2 primed', (l) => linkEvent(l, 'u2', (f) => f.mtu === mtu - 1), 0);
      // u1's link-local address comes out of duplicate address detection on the kernel's own clock
      // (a real fact change the source reports); on a loaded machine that can land in the window
      // below, so it must be over, and reported, first.
      const settled = Date.now() + 10_000;
      while (ip('-6', 'addr', 'show', 'dev', 'u1', 'tentative').trim() !== '' && Date.now() < settled) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await log.waitFor(
        'u1 with its link-local address',
        (l) => linkEvent(l, 'u1', (f) => f.addresses.some((a) => a.scope === 'link')),
        0,
      );
      const primed = seen.length;

      const from = log.lines.length;
      ip('link', 'set', 'u1', 'up'); // already up: the kernel itself stays silent
      ip('link', 'set', 'u1', 'alias', 'uplink-one'); // RTM_NEWLINK; the alias is no fact
      ip('addr', 'replace', '198.51.100.2/24', 'dev', 'u1'); // RTM_NEWADDR for the same address
      // Sentinel: notifications arrive in order, so once its event is here the others were folded.
      ip('link', 'set', 'u2', 'mtu', '1400');
      const sentinel = await log.waitFor('u2 mtu 1400', (l) => linkEvent(l, 'u2', (f) => f.mtu === 1400), from);
      expect(log.lines.slice(from, sentinel.index)).toEqual([]);

      while (!seen.slice(primed).some((l) => / u2[:@ ].*mtu 1400/.test(l))) await new Promise((r) => setTimeout(r, 20));
      const kernelSaid = seen.slice(primed).filter((l) => / u1[:@ ]/.test(l));
      expect(kernelSaid.some((l) => l.includes('198.51.100.2/24'))).toBe(true);
      expect(kernelSaid.length).toBeGreaterThanOrEqual(2);
    } finally {
      if (monitor.pid) process.kill(monitor.pid);
    }
  });

  it('drops IPv4 gateways when a link goes down, like the kernel (which does not announce it)', async () => {
    const from = log.lines.length;
    ip('link', 'set', 'u1', 'down');
    const down = await log.waitFor('u1 admin down', (l) => linkEvent(l, 'u1', (f) => !f.adminUp), from);
    await log.waitFor(
      'u1 without v4 gateway',
      (l) => linkEvent(l, 'u1', (f) => !f.gateways.some((g) => g.family === 4)),
      down.index,
    );
    ip('link', 'set', 'u1', 'up');
    const up = await log.waitFor(
      'u1 up with carrier',
      (l) => linkEvent(l, 'u1', (f) => f.adminUp && f.carrier),
      down.index + 1,
    );
    expect(factsOf(up.line).gateways.filter((g) => g.family === 4)).toEqual([]);
    expect(ip('-4', 'route', 'show', 'default', 'dev', 'u1').trim()).toBe('');
  });

  it('reports new links, a rename (bearer decided again) and removals', async () => {
    let from = log.lines.length;
    ip('link', 'add', 'n1', 'type', 'veth', 'peer', 'name', 'n2');
    const added = await log.waitFor('n1 appears', (l) => linkEvent(l, 'n1'), from);
    const n1 = factsOf(added.line);
    expect(n1).toMatchObject({ kind: 'veth', bearer: 'ethernet', adminUp: false, carrier: false });
    const n2 = await log.waitFor('n2 appears', (l) => linkEvent(l, 'n2'), from);
    expect(factsOf(n2.line).bearer).toBeNull(); // ignored by glob

    from = log.lines.length;
    ip('link', 'set', 'n1', 'name', 'wan7');
    const renamed = await log.waitFor('wan7', (l) => linkEvent(l, 'wan7'), from);
    expect(factsOf(renamed.line)).toMatchObject({ ifindex: n1.ifindex, bearer: 'cellular' });

    from = log.lines.length;
    ip('link', 'del', 'n2'); // takes its peer (now wan7) with it
    await log.waitFor(
      'n2 removed',
      (l) => l.kind === 'event' && l.event.type === 'link-removed' && l.event.ifindex === factsOf(n2.line).ifindex,
      from,
    );
    await log.waitFor(
      'wan7 removed',
      (l) => l.kind === 'event' && l.event.type === 'link-removed' && l.event.ifindex === n1.ifindex,
      from,
    );

    from = log.lines.length;
    ip('link', 'del', 'u2');
    const u2 = ifindex.get('u2');
    expect(u2).toBeGreaterThan(0);
    await log.waitFor(
      'u2 removed',
      (l) => l.kind === 'event' && l.event.type === 'link-removed' && l.event.ifindex === u2,
      from,
    );
  });

  it('measures the latency from `ip link set` to the event (printed, not asserted)', async () => {
    /** Toggles with a persistent `ip -batch` (no fork/exec of `ip` in the figure: 3–8 ms here). */
    async function series(
      label: string,
      inNs: string,
      command: (on: boolean) => string,
      seen: (f: LinkFacts, on: boolean) => boolean,
      n = 30,
    ): Promise<void> {
      const batch = spawn('ip', ['-n', inNs, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let batchErr = '';
      batch.stderr.on('data', (d: Buffer) => (batchErr += d.toString()));
      const off: number[] = [];
      const on: number[] = [];
      try {
        for (let i = 0; i < n; i++) {
          const up = i % 2 === 1;
          const from = log.lines.length;
          const t0 = process.hrtime.bigint();
          batch.stdin.write(`${command(up)}\n`);
          const { line } = await log.waitFor(`${label} ${up}`, (l) => linkEvent(l, 'u1', (f) => seen(f, up)), from);
          if (line.kind === 'event') (up ? on : off).push(Number(BigInt(line.t) - t0) / 1e6);
        }
      } finally {
        batch.stdin.end();
      }
      expect(batchErr).toBe('');
      expect(off.length + on.length).toBe(n);
      const fmt = (xs: number[]) => {
        const s = [...xs].sort((a, b) => a - b);
        const pct = (p: number) => (s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))] as number).toFixed(3);
        return `p50 ${pct(0.5)}  p90 ${pct(0.9)}  max ${pct(1)}`;
      };
      console.log(
        `link-source latency, ${label} (ms, write to ip -batch → event delivered): off: ${fmt(off)} | on: ${fmt(on)}`,
      );
    }

    // Administrative state: the kernel notifies synchronously from the ioctl/netlink request.
    await series(
      'u1 admin down/up',
      ns,
      (up) => `link set u1 ${up ? 'up' : 'down'}`,
      (f, up) => f.adminUp === up,
    );
    await log.waitFor('u1 carrier back', (l) => linkEvent(l, 'u1', (f) => f.carrier), 0);
    // Carrier: the kernel reports it through linkwatch, which batches non-urgent changes (≤ 1 s).
    await series(
      'u1 carrier via peer p1 down/up',
      nsr,
      (up) => `link set p1 ${up ? 'up' : 'down'}`,
      (f, up) => f.carrier === up,
    );
  });

  it('stops cleanly: the driver exits by itself once the source is stopped', async () => {
    expect(log.lines.filter((l) => l.kind === 'log' || l.kind === 'error')).toEqual([]);
    driver?.stdin.end();
    await log.waitFor('stopped', (l) => l.kind === 'stopped');
    // Nothing (socket, timer) may keep the event loop alive after stop().
    const code = await Promise.race([driverExit, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });
});
