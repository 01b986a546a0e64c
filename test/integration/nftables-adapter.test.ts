/**
 * The nftables adapter against a real kernel, proven with real packets.
 *
 * The adapter runs inside the sandbox's device namespace (drivers/nft-driver.ts, driven over a
 * unix socket). The routing half is set up by hand here, as the routing adapter will do it:
 * `fwmark 0x20000/0x0fff0000 → table 102 (default via eth-b)` and `fwmark 0x30000/… → table 103
 * (via eth-c)`, v4 and v6. Traffic with no mark follows the main table (eth-a). The routers drop
 * packets whose source address is not from their uplink, so a request only succeeds when marking,
 * routing and SNAT agree; the server logs the source address it saw.
 *
 * Needs root. Creates two system users (removed afterwards) and a cgroup (removed afterwards);
 * nothing networked happens outside the sandbox's namespaces.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Classifier, FirewallState, SessionMarking } from '../../daemon/ports.js';
import { findCgroup2Mount } from '../../daemon/adapters/nftables/cgroup.js';
import { diffTable } from '../../daemon/adapters/nftables/diff.js';
import { parseTableListing } from '../../daemon/adapters/nftables/readback.js';
import { buildRuleset, type CgroupRef } from '../../daemon/adapters/nftables/ruleset.js';
import { createSandbox, requireRoot, type RunAs, type Sandbox, type SandboxProcess } from './harness/sandbox.js';
import { waitFor } from './harness/exec.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const DRIVER = join(HERE, 'drivers', 'nft-driver.ts');
const PROBE = join(HERE, 'harness', 'http-probe.cjs');

const canRun = requireRoot();

const MASK = 0x0fff0000;
const TAG_MASK = 0x0000ffff;
const MARK_B = 0x00020000;
const MARK_C = 0x00030000;
/** Per counted packet: IPv4 header (20) + TCP header with the timestamp option (32). */
const V4_TCP_OVERHEAD = 52;
/** A SYN (or SYN-ACK) carries 8 more option bytes (MSS, SACK-permitted, window scale). */
const SYN_EXTRA = 8;

interface DriverAnswer {
  id: number;
  ok: boolean;
  error?: string;
  ms?: number;
  stats?: { ops: number; commands: number; bytes: number; readBack: boolean; attempts: number; rebuilt: boolean; ms: number; warnings: string[] };
  result?: Record<string, { rxBytes: string; txBytes: string; rxPackets: string; txPackets: string }>;
}

/** One running driver process and the socket to it. */
class Driver {
  #seq = 0;
  #pending = new Map<number, (a: DriverAnswer) => void>();
  private constructor(
    readonly proc: SandboxProcess,
    readonly sock: Socket,
  ) {
    createInterface({ input: sock }).on('line', (line) => {
      const a = JSON.parse(line) as DriverAnswer;
      this.#pending.get(a.id)?.(a);
      this.#pending.delete(a.id);
    });
    sock.on('error', () => undefined);
  }

  static async start(sb: Sandbox, socketPath: string): Promise<Driver> {
    const proc = sb.spawn(sb.devNs, [process.execPath, '--import', 'tsx', DRIVER, JSON.stringify({ socket: socketPath, mountCgroup2: true })], { cwd: ROOT });
    await proc.waitForLine(/^ready$/, { stream: 'stdout', timeoutMs: 30_000 });
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath, () => resolve(s));
      s.once('error', reject);
    });
    return new Driver(proc, sock);
  }

  /** Sends one request; rejects with the adapter's error message. */
  async call(req: Record<string, unknown>): Promise<DriverAnswer> {
    const id = ++this.#seq;
    const answer = new Promise<DriverAnswer>((resolve) => this.#pending.set(id, resolve));
    this.sock.write(`${JSON.stringify({ id, ...req })}\n`);
    const a = await answer;
    if (!a.ok) throw new Error(`driver ${String(req.op)}: ${a.error}; stderr: ${this.proc.stderr.slice(-1000)}`);
    return a;
  }

  apply(state: FirewallState, verify = false): Promise<DriverAnswer> {
    return this.call({ op: 'apply', state, verify });
  }

  close(): void {
    this.sock.destroy();
  }
}

type Svc = Pick<SessionMarking, 'mark' | 'ifname' | 'snat'>;

function firewall(sessions: SessionMarking[], classifiers: Classifier[]): FirewallState {
  return { mask: MASK, tagMask: TAG_MASK, sessions, classifiers };
}

describe.skipIf(!canRun)('nftables adapter (real kernel, sandbox)', () => {
  const hex = randomBytes(3).toString('hex');
  const userA = `nsu${hex}a`;
  const userB = `nsu${hex}b`;
  const createdUsers: string[] = [];
  let uidA = 0;
  let gidA = 0;
  let uidB = 0;
  let gidB = 0;
  let sb: Sandbox;
  let driver: Driver;
  let socketPath: string;
  let cgroupMount: string | null = null;
  const cgroupKey = `/nsit-${hex}/app`;
  let svcB: Svc;
  let svcC: Svc;
  let foreignBefore = '';

  const asA = (): RunAs => ({ uid: uidA, gid: gidA });
  const nft = async (...args: string[]) => (await sb.run(sb.devNs, ['nft', ...args])).stdout;
  const listTable = async () => JSON.parse(await nft('-j', 'list', 'table', 'inet', 'netsession')) as { nftables: Array<Record<string, Record<string, unknown>>> };

  /** One request from the device; returns the probe's answer and the source address the server saw. */
  async function request(label: string, opts: { user?: RunAs; localAddress?: string; v6?: boolean; query?: string; bodyBytes?: number; timeoutMs?: number } = {}) {
    const host = opts.v6 ? `[${sb.inet.addr6}]` : sb.inet.addr4;
    const path = `/${label}-${randomBytes(3).toString('hex')}`;
    const res = await sb.httpRequest(sb.devNs, `http://${host}${path}${opts.query ? `?${opts.query}` : ''}`, {
      ...(opts.user ? { user: opts.user } : {}),
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      ...(opts.bodyBytes ? { bodyBytes: opts.bodyBytes } : {}),
      timeoutMs: opts.timeoutMs ?? 5000,
    });
    const seen = (await sb.httpLog()).find((e) => e.path === path);
    return { res, client: seen?.client ?? null, path };
  }

  beforeAll(async () => {
    sb = await createSandbox({ dbus: false });
    socketPath = join(sb.tmpDir, 'nft-driver.sock');
    const b = sb.uplink('eth-b');
    const c = sb.uplink('eth-c');
    svcB = { mark: MARK_B, ifname: b.ifname, snat: [{ family: 4, address: b.devAddr4 }, { family: 6, address: b.devAddr6 as string }] };
    svcC = { mark: MARK_C, ifname: c.ifname, snat: [{ family: 4, address: c.devAddr4 }, { family: 6, address: c.devAddr6 as string }] };

    for (const name of [userA, userB]) {
      execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
      createdUsers.push(name);
    }
    const id = (flag: string, name: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
    [uidA, gidA, uidB, gidB] = [id('-u', userA), id('-g', userA), id('-u', userB), id('-g', userB)];

    cgroupMount = findCgroup2Mount(readFileSync('/proc/self/mountinfo', 'utf8'));
    if (cgroupMount) mkdirSync(join(cgroupMount, cgroupKey), { recursive: true });

    // The routing adapter's job, by hand: a table per service and an fwmark rule per family.
    for (const [u, mark, table, prio] of [[b, MARK_B, 102, 10500], [c, MARK_C, 103, 10501]] as const) {
      for (const fam of ['-4', '-6'] as const) {
        const gw = fam === '-4' ? u.gw4 : (u.gw6 as string);
        await sb.run(sb.devNs, ['ip', fam, 'rule', 'add', 'fwmark', `0x${mark.toString(16)}/0x${MASK.toString(16)}`, 'lookup', String(table), 'priority', String(prio)]);
        await sb.run(sb.devNs, ['ip', fam, 'route', 'add', 'default', 'via', gw, 'dev', u.ifname, 'table', String(table)]);
      }
    }
    // Somebody else's table in the same namespace: must survive every apply and the clear.
    await nft('add table inet foreign; add chain inet foreign c; add rule inet foreign c meta mark 0x1 counter');
    foreignBefore = await nft('list', 'table', 'inet', 'foreign');

    driver = await Driver.start(sb, socketPath);
  });

  afterAll(async () => {
    driver?.close();
    await sb?.destroy();
    for (const name of createdUsers) {
      try {
        execFileSync('userdel', [name], { stdio: 'ignore' });
      } catch {
        // already gone
      }
      try {
        execFileSync('groupdel', [name], { stdio: 'ignore' });
      } catch {
        // userdel removed it with the user
      }
    }
    if (cgroupMount) {
      for (const dir of [join(cgroupMount, cgroupKey), dirname(join(cgroupMount, cgroupKey))]) {
        try {
          rmdirSync(dir);
        } catch (err) {
          console.warn(`[nftables-adapter] could not remove cgroup ${dir}: ${(err as Error).message}`);
        }
      }
    }
  });

  // Sessions used across the tests (tags are unique per session).
  const sA = () => ({ sessionKey: 'sA', tag: 1, ...svcB });
  const sG = () => ({ sessionKey: 'sG', tag: 2, ...svcB });
  const sC = () => ({ sessionKey: 'sC', tag: 3, ...svcC });
  const sS = () => ({ sessionKey: 'sS', tag: 4, ...svcC });
  let current: FirewallState;

  it('uid: the session\'s traffic leaves through eth-b with eth-b\'s address (v4 and v6); root follows main (eth-a)', async () => {
    current = firewall([sA()], [{ kind: 'uid', key: String(uidA), sessionKey: 'sA' }]);
    const applied = await driver.apply(current);
    expect(applied.stats?.readBack).toBe(true); // first apply: adopt whatever is there
    const a0 = await sb.routerCounters('eth-a');
    const b0 = await sb.routerCounters('eth-b');

    const marked = await request('uid-a', { user: asA() });
    expect(marked.res.ok).toBe(true);
    expect(marked.client).toBe(sb.uplink('eth-b').devAddr4);
    // The socket kept the address chosen from the main table; SNAT rewrote it on eth-b.
    expect(marked.res.localAddress).toBe(sb.uplink('eth-a').devAddr4);
    const b1 = await sb.routerCounters('eth-b');
    expect(b1.fwdOut - b0.fwdOut).toBeGreaterThanOrEqual(4);
    expect((await sb.routerCounters('eth-a')).fwdOut).toBe(a0.fwdOut);

    const marked6 = await request('uid-a6', { user: asA(), v6: true });
    expect(marked6.res.ok).toBe(true);
    expect(marked6.client).toBe(sb.uplink('eth-b').devAddr6);

    const root = await request('root');
    expect(root.res.ok).toBe(true);
    expect(root.client).toBe(sb.uplink('eth-a').devAddr4);
    expect((await sb.routerCounters('eth-a')).fwdOut).toBeGreaterThan(a0.fwdOut);
  });

  it('gid: the primary gid is matched; the same gid only as a supplementary group is not (nft `meta skgid` sees the socket\'s fsgid)', async () => {
    current = firewall([sA(), sG()], [
      { kind: 'uid', key: String(uidA), sessionKey: 'sA' },
      { kind: 'gid', key: String(gidB), sessionKey: 'sG' },
    ]);
    await driver.apply(current);
    const primary = await request('gid-primary', { user: { uid: uidB, gid: gidB } });
    expect(primary.res.ok).toBe(true);
    expect(primary.client).toBe(sb.uplink('eth-b').devAddr4);

    const supplementary = await request('gid-suppl', { user: { uid: uidB, gid: 65534, groups: [gidB] } });
    expect(supplementary.res.ok).toBe(true);
    expect(supplementary.client).toBe(sb.uplink('eth-a').devAddr4); // kernel limit: not classified
    console.log('[nftables-adapter] gid classifier: a supplementary-only gid is NOT matched (meta skgid = the socket\'s fsgid); uid/cgroup claims are the way to catch such processes');
  });

  it('cgroup: a process in the claimed cgroupv2 leaves through eth-c; one outside does not', async (ctx) => {
    if (!cgroupMount) {
      console.warn('[nftables-adapter] skipping the cgroup case: no cgroup2 mount in this machine\'s mount table');
      ctx.skip();
      return;
    }
    current = firewall([sA(), sG(), sC()], [
      { kind: 'cgroup', key: cgroupKey, sessionKey: 'sC' },
      { kind: 'uid', key: String(uidA), sessionKey: 'sA' },
      { kind: 'gid', key: String(gidB), sessionKey: 'sG' },
    ]);
    const applied = await driver.apply(current);
    expect(applied.stats?.warnings).toEqual([]);

    const path = `/cgroup-${randomBytes(3).toString('hex')}`;
    const probe = JSON.stringify({ url: `http://${sb.inet.addr4}${path}`, timeoutMs: 5000 });
    // `ip netns exec` hides the host's cgroup mounts: mount cgroup2 in this private mount
    // namespace, move the shell into the cgroup, then become the client (sockets opened after).
    const script = `mount -t cgroup2 none /sys/fs/cgroup && echo $$ > /sys/fs/cgroup${cgroupKey}/cgroup.procs && exec ${process.execPath} ${PROBE} '${probe}'`;
    const { stdout } = await sb.run(sb.devNs, ['sh', '-c', script]);
    const res = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { ok: boolean };
    expect(res.ok).toBe(true);
    expect((await sb.httpLog()).find((e) => e.path === path)?.client).toBe(sb.uplink('eth-c').devAddr4);

    const outside = await request('cgroup-outside');
    expect(outside.client).toBe(sb.uplink('eth-a').devAddr4);
  });

  it('source address: a socket bound to eth-c\'s address is marked for eth-c (without it, main sends it out eth-a and the router drops it)', async () => {
    const c = sb.uplink('eth-c');
    const spoof0 = (await sb.routerCounters('eth-a')).spoofed;
    const unclassified = await request('src-none', { localAddress: c.devAddr4, timeoutMs: 1500 });
    expect(unclassified.res.ok).toBe(false);
    expect((await sb.routerCounters('eth-a')).spoofed).toBeGreaterThan(spoof0);

    current = firewall([...current.sessions, sS()], [{ kind: 'source', key: c.devAddr4, family: 4, sessionKey: 'sS' }, ...current.classifiers]);
    await driver.apply(current);
    const c0 = await sb.routerCounters('eth-c');
    const bound = await request('src-c', { localAddress: c.devAddr4 });
    expect(bound.res.ok).toBe(true);
    expect(bound.client).toBe(c.devAddr4);
    expect((await sb.routerCounters('eth-c')).fwdOut).toBeGreaterThan(c0.fwdOut);
  });

  it('moving a session: new connections take eth-c, an established one stays on eth-b to the end', async () => {
    const b = sb.uplink('eth-b');
    const c = sb.uplink('eth-c');
    const body = 2_000_000;
    const label = `long-${randomBytes(3).toString('hex')}`;
    const long = sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/${label}?bytes=${body}&delay=1500`, { user: asA(), timeoutMs: 20_000 });
    // The server logs the request when it has read it: the connection is established (via B).
    const entry = await waitFor(`request ${label} at the server`, async () => (await sb.httpLog()).find((e) => e.path === `/${label}`), { timeoutMs: 10_000, intervalMs: 20 });
    expect(entry.client).toBe(b.devAddr4);
    const b0 = await sb.routerCounters('eth-b');
    const c0 = await sb.routerCounters('eth-c');

    current = firewall([{ ...sA(), ...svcC }, ...current.sessions.filter((s) => s.sessionKey !== 'sA')], current.classifiers);
    const moved = await driver.apply(current);
    expect(moved.stats?.ops).toBe(2); // flush s_sA + its new rule: no map, counter or SNAT change
    console.log(`[nftables-adapter] move one session (4 live): ${moved.stats?.ops} ops, ${moved.stats?.bytes} bytes, ${moved.ms?.toFixed(1)} ms`);

    const fresh = await request('after-move', { user: asA() });
    expect(fresh.res.ok).toBe(true);
    expect(fresh.client).toBe(c.devAddr4);

    const done = await long;
    expect(done.ok).toBe(true);
    expect(done.ok && done.bytes).toBe(body);
    const b1 = await sb.routerCounters('eth-b');
    const c1 = await sb.routerCounters('eth-c');
    expect(b1.bytesIn - b0.bytesIn).toBeGreaterThanOrEqual(body); // the body came back through B
    expect(b1.fwdOut - b0.fwdOut).toBeGreaterThan(10); // and its ACKs left through B
    expect(c1.bytesIn - c0.bytesIn).toBeLessThan(body / 10); // C carried only the new request
    expect(b1.spoofed + c1.spoofed).toBe(b0.spoofed + c0.spoofed);
  });

  it('per-session counters match the bytes sent and received, headers accounted for exactly', async () => {
    await driver.call({ op: 'reset', keys: ['sA'] });
    const zero = (await driver.call({ op: 'read' })).result?.sA;
    expect(zero).toEqual({ rxBytes: '0', txBytes: '0', rxPackets: '0', txPackets: '0' });

    const up = 100_000;
    const down = 50_000;
    const r = await request('count', { user: asA(), bodyBytes: up, query: `bytes=${down}` });
    expect(r.res.ok).toBe(true);
    expect(r.client).toBe(sb.uplink('eth-c').devAddr4);
    const c = (await driver.call({ op: 'read' })).result?.sA;
    if (!c || !r.res.ok) throw new Error('no counters for sA, or the request failed');
    const [txBytes, txPackets, rxBytes, rxPackets] = [c.txBytes, c.txPackets, c.rxBytes, c.rxPackets].map(Number) as [number, number, number, number];
    // What went over TCP: the request head Node's http client writes (the probe sets
    // Content-Length; agent:false means Connection: close) plus the body, and the server's status
    // line and headers plus its body.
    const requestHead = `POST ${r.path}?bytes=${down} HTTP/1.1\r\nContent-Length: ${up}\r\nHost: ${sb.inet.addr4}\r\nConnection: close\r\n\r\n`.length;
    const responseHead = 'HTTP/1.1 200 OK\r\n'.length + Object.entries(r.res.headers).reduce((n, [k, v]) => n + k.length + 2 + String(v).length + 2, 0) + 2;
    // nft counts whole IP packets (a GSO/GRO aggregate is one packet with one header), so per
    // direction: bytes = TCP payload + 52 per packet (IPv4 20 + TCP 20 + timestamps 12) + 8 for
    // the SYN or SYN-ACK (MSS, SACK-permitted and window-scale options).
    const txExpected = requestHead + up + V4_TCP_OVERHEAD * txPackets + SYN_EXTRA;
    const rxExpected = responseHead + down + V4_TCP_OVERHEAD * rxPackets + SYN_EXTRA;
    console.log(
      `[nftables-adapter] counters sA: tx ${txBytes} B in ${txPackets} packets = ${up} body + ${requestHead} request head + ${txPackets}×52 + 8; ` +
        `rx ${rxBytes} B in ${rxPackets} packets = ${down} body + ${responseHead} response head + ${rxPackets}×52 + 8`,
    );
    expect(txPackets).toBeGreaterThan(2);
    expect(rxPackets).toBeGreaterThan(2);
    expect(txBytes).toBe(txExpected);
    expect(rxBytes).toBe(rxExpected);
  });

  it('after a SIGKILL, a new run adopts the table: no stale or duplicate chain, element or counter; surviving counters keep counting', async () => {
    const before = (await driver.call({ op: 'read' })).result?.sA;
    await driver.proc.kill('SIGKILL', 0);
    driver.close();
    driver = await Driver.start(sb, socketPath);

    // sG and sS are gone, sN is new; sA and sC stay.
    current = firewall(
      [{ ...sA(), ...svcC }, sC(), { sessionKey: 'sN', tag: 9, mark: 0, ifname: '', snat: [] }],
      [
        ...(cgroupMount ? [{ kind: 'cgroup' as const, key: cgroupKey, sessionKey: 'sC' }] : []),
        { kind: 'uid', key: String(uidA), sessionKey: 'sA' },
        { kind: 'uid', key: '65534', sessionKey: 'sN' },
      ],
    );
    const applied = await driver.apply(current);
    expect(applied.stats?.readBack).toBe(true);
    expect(applied.stats?.rebuilt).toBe(false);

    const items = (await listTable()).nftables;
    const names = (kind: string) => items.filter((i) => i[kind]).map((i) => i[kind]?.name as string).sort();
    const rulesOf = (chain: string) => items.filter((i) => i.rule?.chain === chain).length;
    const elems = (map: string) =>
      [...((items.find((i) => i.map?.name === map)?.map?.elem as Array<[number, unknown]> | undefined) ?? [])].sort((x, y) => x[0] - y[0]);
    expect(names('chain')).toEqual(['classify', 'input', 'output', 'postrouting', 'prerouting', 's_sA', 's_sC', 's_sN'].sort());
    expect(names('counter')).toEqual(['rx_sA', 'rx_sC', 'rx_sN', 'tx_sA', 'tx_sC', 'tx_sN'].sort());
    expect(names('map')).toEqual([...(cgroupMount ? ['cg2'] : []), 'gid', 'rx', 'src4', 'src6', 'tx', 'uid'].sort());
    expect(Object.fromEntries(['output', 'prerouting', 'input', 'postrouting', 'classify', 's_sA', 's_sC', 's_sN'].map((c) => [c, rulesOf(c)]))).toEqual({
      output: 3, prerouting: 1, input: 1, postrouting: 2, classify: cgroupMount ? 5 : 4, s_sA: 1, s_sC: 1, s_sN: 1,
    });
    expect(elems('uid')).toEqual([[uidA, { goto: { target: 's_sA' } }], [65534, { goto: { target: 's_sN' } }]]);
    expect(elems('gid')).toEqual([]);
    expect(elems('src4')).toEqual([]);
    expect(elems('tx')).toEqual([[1, 'tx_sA'], [3, 'tx_sC'], [9, 'tx_sN']]);
    // The adapter's own read of the kernel agrees with what the state requires.
    const resolver = (path: string): CgroupRef | null => {
      if (!cgroupMount) return null;
      const st = execFileSync('stat', ['-c', '%i', join(cgroupMount, path)], { encoding: 'utf8' }).trim();
      const parts = path.split('/').filter(Boolean);
      return { id: st, nftPath: parts.join('/'), level: parts.length };
    };
    const listing = await nft('-j', 'list', 'table', 'inet', 'netsession');
    expect(diffTable(parseTableListing(listing, 'netsession'), buildRuleset(current, { cgroup: resolver }).table)).toEqual([]);
    // sA's counters were adopted, not recreated.
    const after = (await driver.call({ op: 'read' })).result?.sA;
    expect(Number(after?.txBytes)).toBeGreaterThanOrEqual(Number(before?.txBytes));
    expect(Number(after?.txBytes)).toBeGreaterThan(0);
  });

  it('an element and a rule deleted from outside come back at the next verifying apply (a plain apply trusts its cache)', async () => {
    await nft('delete element inet netsession uid { ' + String(uidA) + ' }');
    await nft('flush chain inet netsession s_sC');
    const unmarked = await request('ext-deleted', { user: asA() });
    expect(unmarked.client).toBe(sb.uplink('eth-a').devAddr4);

    const cached = await driver.apply(current);
    expect(cached.stats?.ops).toBe(0);
    expect(cached.stats?.readBack).toBe(false);

    const verified = await driver.apply(current, true);
    expect(verified.stats?.readBack).toBe(true);
    expect(verified.stats?.ops).toBe(2); // the uid element, s_sC's rule
    const again = await request('ext-restored', { user: asA() });
    expect(again.client).toBe(sb.uplink('eth-c').devAddr4);
    expect((await driver.apply(current, true)).stats?.ops).toBe(0);
  });

  it('clear() removes the table and leaves the foreign one as it was', async () => {
    await driver.call({ op: 'clear' });
    const tables = await nft('list', 'tables');
    expect(tables).not.toMatch(/inet netsession/);
    expect(tables).toMatch(/inet foreign/);
    expect(await nft('list', 'table', 'inet', 'foreign')).toBe(foreignBefore);
    const plain = await request('after-clear', { user: asA() });
    expect(plain.client).toBe(sb.uplink('eth-a').devAddr4);
    expect(await driver.call({ op: 'read' })).toMatchObject({ result: {} });
  });

  it('figures (printed, not asserted): apply 1,000 / 10,000 sessions, move one of 10,000, verify, read, per-request cost', async () => {
    const bulk = (n: number): FirewallState => {
      const sessions: SessionMarking[] = [];
      const classifiers: Classifier[] = [];
      for (let i = 0; i < n; i++) {
        sessions.push({ sessionKey: `b${i}`, tag: i + 2, ...(i % 2 ? svcB : svcC) });
        classifiers.push({ kind: 'uid', key: String(400000 + i), sessionKey: `b${i}` });
      }
      sessions.push({ ...sA(), ...svcC });
      classifiers.push({ kind: 'uid', key: String(uidA), sessionKey: 'sA' });
      classifiers.sort((a, b) => Number(a.key) - Number(b.key));
      return firewall(sessions, classifiers);
    };
    const fig: string[] = [];
    for (const n of [1000, 10_000]) {
      await driver.call({ op: 'clear' });
      const a = await driver.apply(bulk(n));
      fig.push(`apply ${n} sessions from empty: ${a.ms?.toFixed(0)} ms (${a.stats?.ops} changes, ${a.stats?.commands} commands, ${((a.stats?.bytes ?? 0) / 1024).toFixed(0)} KiB script)`);
    }
    const big = bulk(10_000);
    const same = await driver.apply(big);
    fig.push(`re-apply the same 10,000 (cache): ${same.ms?.toFixed(1)} ms, ${same.stats?.ops} changes`);
    const moved = structuredClone(big);
    Object.assign(moved.sessions[5000] as SessionMarking, svcB.mark === (moved.sessions[5000] as SessionMarking).mark ? svcC : svcB);
    const m = await driver.apply(moved);
    fig.push(`move one session with 10,000 live: ${m.ms?.toFixed(0)} ms (${m.stats?.ops} changes, ${m.stats?.bytes} bytes)`);
    const v = await driver.apply(moved, true);
    fig.push(`verifying apply at 10,000 (read back + diff): ${v.ms?.toFixed(0)} ms, ${v.stats?.ops} changes`);
    const r = await driver.call({ op: 'read' });
    fig.push(`read() counters of 10,000 sessions: ${r.ms?.toFixed(0)} ms`);

    const loop = `const http=require('http');const N=+process.argv[1];let i=0;const t0=process.hrtime.bigint();(function next(){if(i++>=N){console.log(Number(process.hrtime.bigint()-t0)/1e6/N);return}http.get(process.argv[2],{agent:false},(r)=>{r.resume();r.on('end',next)}).on('error',(e)=>{console.log('error '+e.message);process.exit(1)})})()`;
    const perRequest = async () => Number((await sb.run(sb.devNs, [process.execPath, '-e', loop, '300', `http://${sb.inet.addr4}/loop`], { user: asA(), timeoutMs: 60_000 })).stdout.trim());
    await perRequest(); // warm-up
    const withTable = await perRequest();
    await driver.call({ op: 'clear' });
    await perRequest();
    const without = await perRequest();
    fig.push(`sequential HTTP requests as the classified uid: ${withTable.toFixed(2)} ms each with 10,000 sessions (via eth-c, SNAT) vs ${without.toFixed(2)} ms with no table (via eth-a)`);
    console.log(`[nftables-adapter] figures (2 shared cores, noisy):\n  ${fig.join('\n  ')}`);
    expect(fig).toHaveLength(7);
  });
});
