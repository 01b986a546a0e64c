/**
 * The rtnetlink routing adapter against a real kernel and real packets, inside a sandbox (device
 * namespace with uplinks eth-a/b/c to routers 1-3 and an internet host; see README.md). The
 * adapter runs in the device namespace through drivers/routing-driver.ts, a new process per
 * batch of steps, so every apply starts from what the kernel holds.
 *
 * | step                                          | expected                                                     |
 * |-----------------------------------------------|--------------------------------------------------------------|
 * | before any apply, socket bound to eth-b's addr | leaves via main (eth-a), router 1 drops it as spoofed         |
 * | first apply (services eth-b, eth-c)           | exactly our rules and tables; crash leftovers gone; the       |
 * |                                               | identical leftover adopted (not re-added); foreign kept        |
 * | bound to eth-b / eth-c addresses, v4 and v6    | through router 2 / 3, replies accepted (rp_filter)            |
 * | apply again; readActual                       | 0 kernel operations; reads back the desired rules and routes   |
 * | `ip rule del` of one of ours                  | next apply restores it with 1 operation                       |
 * | in one run: a change after a clean apply       | planned from the model: its own operations, no dump; a rule   |
 * |                                               | deleted from outside stays gone until the next verify         |
 * | strict rp_filter, source-rule path            | works (measured), next apply relaxes it again (1 operation)   |
 * | strict rp_filter, fwmark path (no mark restore)| replies dropped by rp_filter; loose (our setting) accepts them |
 * | a route on a missing interface                | that op fails (summary error), all others applied             |
 * | a link that is down                           | its routes skipped, added by the apply after it came up        |
 * | a /32 address (gateway outside every prefix)  | default route added with onlink, packets flow                 |
 * | 1 and 200 services                            | timings printed                                               |
 * | clear()                                       | rule and route dumps equal those before the first apply        |
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priorityForSlot } from '../../daemon/core/alloc.js';
import { DEFAULT_CORE_CONFIG } from '../../daemon/core/config.js';
import {
  computeKernelState,
  type KernelServiceInput,
  type KernelSessionInput,
} from '../../daemon/core/kernel-state.js';
import type { RoutingState } from '../../daemon/core/kernel-state-types.js';
import { createSandbox, requireRoot, type Sandbox, type Uplink } from './harness/sandbox.js';

const supported = requireRoot();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = join(ROOT, 'test/integration/drivers/routing-driver.ts');
const CONFIG = DEFAULT_CORE_CONFIG;
const prio = (slot: number) => priorityForSlot(CONFIG.priorityRange, slot);

interface StepResult {
  cmd: string;
  ok: boolean;
  ms: number;
  lastOps: number;
  report: {
    ops: number;
    rounds: number;
    skipped: string[];
    failures: Array<{ op: string; code: string | null }>;
    removedTables: number[];
    reads: number;
  };
  logs: string[];
  error?: string;
  failures?: Array<{ op: string; code: string | null; message: string }>;
  actual?: RoutingState;
}

type Step =
  | { cmd: 'apply'; desired: RoutingState; verify?: boolean }
  | { cmd: 'clear' }
  | { cmd: 'read' }
  | { cmd: 'exec'; argv: string[] };

let sb: Sandbox;
let b: Uplink;
let c: Uplink;
/** Link-local address of router 3 on its LAN: eth-c's v6 gateway is link-local. */
let c6ll: string;
/** Rule and route dumps before anything of ours existed (foreign entries included). */
let baseline: string[];

async function drive(steps: Step[]): Promise<StepResult[]> {
  const { stdout } = await sb.run(sb.devNs, [process.execPath, '--import', 'tsx', DRIVER], {
    input: JSON.stringify({ config: CONFIG, steps }),
    cwd: ROOT,
    timeoutMs: 120_000,
  });
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StepResult);
}

async function apply(desired: RoutingState): Promise<StepResult> {
  const [r] = await drive([{ cmd: 'apply', desired }]);
  return r as StepResult;
}

async function ipj<T = Array<Record<string, unknown>>>(...args: string[]): Promise<T> {
  const { stdout } = await sb.run(sb.devNs, ['ip', '-j', ...args]);
  return JSON.parse(stdout || '[]') as T;
}

async function sh(ns: string, ...cmd: string[]): Promise<string> {
  return (await sb.run(ns, cmd)).stdout.trim();
}

const sysctlRead = (key: string) => sh(sb.devNs, 'cat', `/proc/sys/net/ipv4/conf/${key}`);

/** `ip rule` entries inside both our ranges, as comparable text. */
async function ourRules(): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    for (const r of await ipj(fam, 'rule')) {
      const p = Number(r.priority);
      const t = Number(r.table);
      if (
        p < CONFIG.priorityRange.start ||
        p > CONFIG.priorityRange.end ||
        !(t >= CONFIG.tableRange.start && t <= CONFIG.tableRange.end)
      )
        continue;
      const mark = r.fwmark ? ` fwmark ${String(r.fwmark)}/${String(r.fwmask)}` : '';
      out.push(`${fam} ${p} from ${String(r.src)}${mark} lookup ${t}`);
    }
  }
  return out.sort();
}

async function tableRoutes(table: number): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const res = await sb.run(sb.devNs, ['ip', '-j', fam, 'route', 'show', 'table', String(table)], { allowFail: true });
    // A table that never held a route of this family does not exist: `ip` says so and fails.
    if (res.code !== 0 && /table does not exist/.test(res.stderr)) continue;
    if (res.code !== 0) throw new Error(`ip route show table ${table}: ${res.stderr}`);
    for (const r of JSON.parse(res.stdout || '[]') as Array<Record<string, unknown>>) {
      const flags = (r.flags as string[] | undefined)?.includes('onlink') ? ' onlink' : '';
      out.push(`${fam} ${String(r.dst)}${r.gateway ? ` via ${String(r.gateway)}` : ''} dev ${String(r.dev)}${flags}`);
    }
  }
  return out.sort();
}

/** Every rule and every route of every table, both families, as sorted text lines. */
async function kernelDump(): Promise<string[]> {
  const lines: string[] = [];
  for (const args of [
    ['-4', 'rule'],
    ['-6', 'rule'],
    ['-4', 'route', 'show', 'table', 'all'],
    ['-6', 'route', 'show', 'table', 'all'],
  ]) {
    for (const e of await ipj(...args)) lines.push(`${args.join(' ')} ${JSON.stringify(e, Object.keys(e).sort())}`);
  }
  return lines.sort();
}

async function expectForeignIntact(): Promise<void> {
  const rules4 = await ipj('-4', 'rule');
  const rules6 = await ipj('-6', 'rule');
  expect(rules4.some((r) => r.priority === 10200 && r.table === '500')).toBe(true);
  expect(rules4.some((r) => r.priority === 20000 && r.table === '10050')).toBe(true);
  expect(rules6.some((r) => r.priority === 10300 && r.table === '501')).toBe(true);
  expect(await tableRoutes(500)).toEqual([
    '-4 203.0.113.0/24 via 198.51.100.9 dev eth-a',
    '-4 default via 198.51.100.9 dev eth-a',
  ]);
}

interface Svc {
  u: Uplink;
  table: number;
  mark: number;
  slot: number;
  gw6?: string;
  prefix4?: number;
  ifindex?: number;
  ifname?: string;
}

/** The desired state exactly as the core computes it, with one SourceIPRule session per service. */
function desiredFor(svcs: Svc[]): RoutingState {
  const services: KernelServiceInput[] = svcs.map((s) => ({
    id: `svc-${s.table}`,
    ifindex: s.ifindex ?? s.u.ifindex,
    ifname: s.ifname ?? s.u.ifname,
    table: s.table,
    mark: s.mark,
    slot: s.slot,
    connected: true,
    addresses: [
      { family: 4, address: s.u.devAddr4, prefixLength: s.prefix4 ?? s.u.prefix4, method: 'manual', scope: 'global' },
      ...(s.u.devAddr6
        ? [
            {
              family: 6 as const,
              address: s.u.devAddr6,
              prefixLength: s.u.prefix6 ?? 64,
              method: 'manual' as const,
              scope: 'global' as const,
            },
          ]
        : []),
    ],
    gateways: [
      { family: 4, gateway: s.u.gw4, metric: 0 },
      ...((s.gw6 ?? s.u.gw6) ? [{ family: 6 as const, gateway: (s.gw6 ?? s.u.gw6) as string, metric: 0 }] : []),
    ],
  }));
  const sessions: KernelSessionInput[] = svcs.map((s, i) => ({
    sessionKey: `s${i}`,
    tag: i + 1,
    serial: i,
    priority: false,
    serviceId: `svc-${s.table}`,
    claims: [],
    sourceIPRule: true,
  }));
  return computeKernelState({ config: CONFIG, services, sessions }).routing;
}

const svcB = (): Svc => ({ u: b, table: 10001, mark: 0x10000, slot: 1 });
const svcC = (): Svc => ({ u: c, table: 10002, mark: 0x20000, slot: 2, gw6: c6ll });
const main = (): RoutingState => desiredFor([svcB(), svcC()]);

/** The rules `main()` must produce, as {@link ourRules} prints them. */
function expectedRules(): string[] {
  const pb = prio(1);
  const pc = prio(2);
  return [
    `-4 ${pb.source} from ${b.devAddr4} lookup 10001`,
    `-4 ${pb.fwmark} from all fwmark 0x10000/0xfff0000 lookup 10001`,
    `-4 ${pc.source} from ${c.devAddr4} lookup 10002`,
    `-4 ${pc.fwmark} from all fwmark 0x20000/0xfff0000 lookup 10002`,
    `-6 ${pb.source} from ${b.devAddr6} lookup 10001`,
    `-6 ${pb.fwmark} from all fwmark 0x10000/0xfff0000 lookup 10001`,
    `-6 ${pc.source} from ${c.devAddr6} lookup 10002`,
    `-6 ${pc.fwmark} from all fwmark 0x20000/0xfff0000 lookup 10002`,
  ].sort();
}

const url4 = (bytes = 1000) => `http://${sb.inet.addr4}/x?bytes=${bytes}`;
const url6 = (bytes = 1000) => `http://[${sb.inet.addr6}]/x?bytes=${bytes}`;

/** Packets the kernel dropped on reverse-path checks (TcpExt IPReversePathFilter) in the device namespace. */
async function rpFilterDrops(): Promise<number> {
  const lines = (await sh(sb.devNs, 'cat', '/proc/net/netstat')).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = (lines[0] ?? '').split(/\s+/);
  const values = (lines[1] ?? '').split(/\s+/);
  const i = names.indexOf('IPReversePathFilter');
  if (i < 0) throw new Error('no IPReversePathFilter counter');
  return Number(values[i]);
}

describe.skipIf(!supported)('rtnetlink routing adapter (device namespace, real packets)', () => {
  beforeAll(async () => {
    sb = await createSandbox({ dbus: false });
    b = sb.uplink('eth-b');
    c = sb.uplink('eth-c');
    // The kernel adds the link-local address from a work queue shortly after the link came up.
    const deadline = Date.now() + 10_000;
    let seen = '';
    for (;;) {
      seen = await sh(c.routerNs, 'ip', '-j', '-6', 'addr', 'show', 'dev', c.routerLan, 'scope', 'link');
      const [lan] = JSON.parse(seen || '[]') as Array<{ addr_info?: Array<{ local?: string; tentative?: boolean }> }>;
      c6ll = lan?.addr_info?.find((a) => a.local?.startsWith('fe80:') && !a.tentative)?.local ?? '';
      if (c6ll || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!c6ll) throw new Error(`router 3 has no link-local address: ${seen}`);

    // Strict reverse-path filtering everywhere, as many distributions ship it.
    await sb.run(sb.devNs, [
      'sysctl',
      '-qw',
      'net.ipv4.conf.all.rp_filter=1',
      ...['eth-a', 'eth-b', 'eth-c'].map((i) => `net.ipv4.conf.${i}.rp_filter=1`),
    ]);

    // Foreign entries: a rule with a priority in our range but table 500, a rule with a table in
    // our range but priority 20000, a v6 one, and table 500's routes.
    await sb.run(sb.devNs, ['ip', 'rule', 'add', 'pref', '10200', 'fwmark', '0x30000/0x0fff0000', 'lookup', '500']);
    await sb.run(sb.devNs, ['ip', 'rule', 'add', 'pref', '20000', 'from', c.devAddr4, 'lookup', '10050']);
    await sb.run(sb.devNs, ['ip', '-6', 'rule', 'add', 'pref', '10300', 'from', c.devAddr6 as string, 'lookup', '501']);
    await sb.run(sb.devNs, ['ip', 'route', 'add', 'default', 'via', '198.51.100.9', 'dev', 'eth-a', 'table', '500']);
    await sb.run(sb.devNs, [
      'ip',
      'route',
      'add',
      '203.0.113.0/24',
      'via',
      '198.51.100.9',
      'dev',
      'eth-a',
      'table',
      '500',
    ]);
    baseline = await kernelDump();

    // Leftovers of a "crashed" run: a rule and routes in our ranges that are not desired, and
    // one route identical to a desired one (to be adopted, not re-added).
    await sb.run(sb.devNs, [
      'ip',
      'rule',
      'add',
      'pref',
      '10777',
      'fwmark',
      '0x90000/0x0fff0000',
      'lookup',
      '10777',
      'proto',
      '110',
    ]);
    await sb.run(sb.devNs, [
      'ip',
      'route',
      'add',
      'default',
      'via',
      c.gw4,
      'dev',
      'eth-c',
      'table',
      '10777',
      'proto',
      '110',
    ]);
    await sb.run(sb.devNs, [
      'ip',
      '-6',
      'route',
      'add',
      c.subnet6 as string,
      'dev',
      'eth-c',
      'table',
      '10777',
      'proto',
      '110',
    ]);
    await sb.run(sb.devNs, [
      'ip',
      'route',
      'add',
      b.subnet4,
      'dev',
      'eth-b',
      'table',
      '10001',
      'proto',
      '110',
      'scope',
      'link',
    ]);
  }, 120_000);

  afterAll(async () => {
    await sb?.destroy();
  });

  it('without our rules, a socket bound to eth-b leaves through eth-a and is dropped (the control)', async () => {
    const before = await sb.routerCounters('eth-a');
    const r = await sb.httpRequest(sb.devNs, url4(), { localAddress: b.devAddr4, timeoutMs: 1500 });
    expect(r.ok).toBe(false);
    expect((await sb.routerCounters('eth-a')).spoofed).toBeGreaterThan(before.spoofed);
  });

  it('first apply: exactly our rules and tables, leftovers removed, the identical one adopted, foreign kept', async () => {
    const r = await apply(main());
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    // 4 sysctl writes (src_valid_mark and rp_filter of eth-b and eth-c), 7 routes (8 desired,
    // one adopted), 8 rules, 3 leftovers deleted.
    expect(r.lastOps).toBe(4 + 7 + 8 + 3);
    expect(r.logs.filter((l) => l.includes(`add route -4 ${b.subnet4}`))).toEqual([]);
    expect(r.report.removedTables).toEqual([10777]);

    expect(await ourRules()).toEqual(expectedRules());
    expect(await tableRoutes(10001)).toEqual(
      [
        `-4 default via ${b.gw4} dev eth-b`,
        `-4 ${b.subnet4} dev eth-b`,
        `-6 default via ${b.gw6} dev eth-b`,
        `-6 ${b.subnet6} dev eth-b`,
      ].sort(),
    );
    expect(await tableRoutes(10002)).toEqual(
      [
        `-4 default via ${c.gw4} dev eth-c`,
        `-4 ${c.subnet4} dev eth-c`,
        `-6 default via ${c6ll} dev eth-c`,
        `-6 ${c.subnet6} dev eth-c`,
      ].sort(),
    );
    expect(await tableRoutes(10777)).toEqual([]);
    // Tagged for humans.
    expect((await ipj('-4', 'rule')).filter((x) => x.table === '10001').every((x) => x.protocol === '110')).toBe(true);
    await expectForeignIntact();

    // sysctls: only on managed interfaces; conf.all and eth-a untouched.
    expect(await sysctlRead('eth-b/src_valid_mark')).toBe('1');
    expect(await sysctlRead('eth-c/src_valid_mark')).toBe('1');
    expect(await sysctlRead('eth-b/rp_filter')).toBe('2');
    expect(await sysctlRead('eth-c/rp_filter')).toBe('2');
    expect(await sysctlRead('eth-a/rp_filter')).toBe('1');
    expect(await sysctlRead('eth-a/src_valid_mark')).toBe('0');
    expect(await sysctlRead('all/rp_filter')).toBe('1');
  });

  it('sockets bound to eth-b / eth-c addresses go through routers 2 / 3 (v4 and v6), unbound ones stay on eth-a', async () => {
    const cases: Array<{ url: string; local?: string; via: string; client: string }> = [
      { url: url4(), local: b.devAddr4, via: 'eth-b', client: b.devAddr4 },
      { url: url6(), local: b.devAddr6, via: 'eth-b', client: b.devAddr6 as string },
      { url: url4(), local: c.devAddr4, via: 'eth-c', client: c.devAddr4 },
      // v6 next hop is router 3's link-local address.
      { url: url6(), local: c.devAddr6, via: 'eth-c', client: c.devAddr6 as string },
      { url: url4(), via: 'eth-a', client: sb.uplink('eth-a').devAddr4 },
    ];
    for (const k of cases) {
      const before = await Promise.all(['eth-a', 'eth-b', 'eth-c'].map((n) => sb.routerCounters(n)));
      await sb.clearHttpLog();
      const res = await sb.httpRequest(sb.devNs, k.url, k.local ? { localAddress: k.local } : {});
      expect(res.ok, `${k.url} from ${k.local ?? 'any'}: ${JSON.stringify(res)}`).toBe(true);
      const after = await Promise.all(['eth-a', 'eth-b', 'eth-c'].map((n) => sb.routerCounters(n)));
      const log = await sb.httpLog();
      expect(log.map((e) => e.client)).toEqual([k.client]);
      ['eth-a', 'eth-b', 'eth-c'].forEach((n, i) => {
        const moved = after[i]!.fwdOut > before[i]!.fwdOut;
        expect(moved, `${k.client} through ${n}?`).toBe(n === k.via);
        // Replies came back through the same router (accepted by the reverse-path check).
        if (n === k.via) expect(after[i]!.fwdIn).toBeGreaterThan(before[i]!.fwdIn);
        expect(after[i]!.spoofed).toBe(before[i]!.spoofed);
      });
    }
  });

  it('an apply of the same state issues no kernel operation (a fresh process: read back, not remembered)', async () => {
    const desired = main();
    const [r, read] = await drive([{ cmd: 'apply', desired }, { cmd: 'read' }]);
    expect(r!.ok).toBe(true);
    expect(r!.lastOps).toBe(0);
    expect(r!.report.rounds).toBe(0);
    // readActual gives back the desired rules and per-table routes.
    const canon = (xs: object[]) => xs.map((x) => JSON.stringify(x, Object.keys(x).sort())).sort();
    const actual = read!.actual as RoutingState;
    expect(canon(actual.rules)).toEqual(canon(desired.rules));
    expect(actual.services.map((s) => [s.table, s.ifname, s.mark])).toEqual([
      [10001, 'eth-b', 0x10000],
      [10002, 'eth-c', 0x20000],
    ]);
    for (const svc of desired.services) {
      expect(canon(actual.services.find((s) => s.table === svc.table)?.routes ?? [])).toEqual(canon(svc.routes));
    }
  });

  it('a rule deleted from outside comes back with the next apply (1 operation)', async () => {
    const pb = prio(1);
    await sb.run(sb.devNs, [
      'ip',
      'rule',
      'del',
      'pref',
      String(pb.fwmark),
      'fwmark',
      '0x10000/0x0fff0000',
      'lookup',
      '10001',
    ]);
    expect(await ourRules()).not.toEqual(expectedRules());
    const r = await apply(main());
    expect(r.lastOps).toBe(1);
    expect(await ourRules()).toEqual(expectedRules());
    await expectForeignIntact();
  });

  it('within one run, a change is planned from the model of the last apply (no dump); verify reads the kernel back', async () => {
    const base = main();
    const pb = prio(1);
    // Without eth-b's v4 source rule (its session dropped SourceIPRule for v4, say).
    const fewer: RoutingState = {
      ...base,
      rules: base.rules.filter((r) => !(r.kind === 'source' && r.family === 4 && r.table === 10001)),
    };
    const del = ['ip', 'rule', 'del', 'pref', String(pb.fwmark), 'fwmark', '0x10000/0x0fff0000', 'lookup', '10001'];
    const [first, change, same, , trusted, verified] = await drive([
      { cmd: 'apply', desired: fewer },
      { cmd: 'apply', desired: base },
      { cmd: 'apply', desired: base },
      { cmd: 'exec', argv: del },
      { cmd: 'apply', desired: fewer },
      { cmd: 'apply', desired: base, verify: true },
    ]);
    expect(first?.report.reads).toBe(1);
    expect(change).toMatchObject({ ok: true, lastOps: 1, report: { reads: 0 } });
    expect(same).toMatchObject({ ok: true, lastOps: 0, report: { reads: 0 } });
    // Removing the source rule is planned from the model: the rule deleted from outside is not seen...
    expect(trusted).toMatchObject({ ok: true, lastOps: 1, report: { reads: 0 } });
    // ...until the verify, which reads the kernel and puts both back.
    expect(verified).toMatchObject({ ok: true, lastOps: 2, report: { reads: 1 } });
    expect(await ourRules()).toEqual(expectedRules());
    await expectForeignIntact();
  });

  it('measured: strict rp_filter passes the source-rule path; the next apply relaxes it again', async () => {
    await sb.run(sb.devNs, ['sysctl', '-qw', 'net.ipv4.conf.eth-b.rp_filter=1']);
    const drops = await rpFilterDrops();
    await sb.clearHttpLog();
    const res = await sb.httpRequest(sb.devNs, url4(), { localAddress: b.devAddr4 });
    // The reverse lookup for a reply to eth-b's address matches `from <eth-b addr> lookup 10001`,
    // whose default route leaves through eth-b: strict mode is satisfied without any mark.
    expect(res.ok).toBe(true);
    expect(await rpFilterDrops()).toBe(drops);
    const r = await apply(main());
    expect(r.lastOps).toBe(1);
    expect(await sysctlRead('eth-b/rp_filter')).toBe('2');
  });

  it('measured: the fwmark path under strict rp_filter loses its replies without a mark restore; loose accepts them', async () => {
    // Mark what goes to the internet host like the firewall adapter would, SNAT it on eth-b,
    // but (unlike the firewall adapter) restore no mark on the replies.
    const nft = `table inet rt_adapter_test {
  chain out {
    type route hook output priority mangle; policy accept;
    ip daddr ${sb.inet.addr4} tcp dport 80 meta mark set 0x10000
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth-b" meta mark & 0x0fff0000 == 0x10000 snat ip to ${b.devAddr4}
  }
}
`;
    const file = join(sb.tmpDir, 'rt-adapter-test.nft');
    await writeFile(file, nft);
    await sb.run(sb.devNs, ['nft', '-f', file]);
    try {
      await sb.run(sb.devNs, ['sysctl', '-qw', 'net.ipv4.conf.eth-b.rp_filter=1']);
      const drops = await rpFilterDrops();
      const before = await sb.routerCounters('eth-b');
      const strict = await sb.httpRequest(sb.devNs, url4(), { timeoutMs: 1500 });
      expect(strict.ok).toBe(false);
      const mid = await sb.routerCounters('eth-b');
      // The SYN left through router 2 and its SYN-ACK came back, only to be dropped here.
      expect(mid.fwdOut).toBeGreaterThan(before.fwdOut);
      expect(mid.fwdIn).toBeGreaterThan(before.fwdIn);
      expect(await rpFilterDrops()).toBeGreaterThan(drops);
      console.log(
        `[routing-adapter] strict rp_filter, fwmark path without mark restore: ${(await rpFilterDrops()) - drops} reply packet(s) dropped by rp_filter`,
      );

      const r = await apply(main());
      expect(r.lastOps).toBe(1);
      await sb.clearHttpLog();
      const loose = await sb.httpRequest(sb.devNs, url4());
      expect(loose.ok).toBe(true);
      expect((await sb.httpLog()).map((e) => e.client)).toEqual([b.devAddr4]);
    } finally {
      await sb.run(sb.devNs, ['nft', 'delete', 'table', 'inet', 'rt_adapter_test']);
    }
  });

  it('one failing operation does not stop the others; the apply reports a summary error', async () => {
    const broken = desiredFor([
      svcB(),
      svcC(),
      { u: b, table: 10009, mark: 0x90000, slot: 9, ifindex: 99, ifname: 'eth-zz' },
    ]);
    const r = await apply(broken);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/routing: \d+ operation\(s\) failed/);
    expect(r.failures?.length).toBeGreaterThan(0);
    expect(r.failures?.every((f) => f.op.includes('table 10009') && f.code === 'ENODEV')).toBe(true);
    // Its rules (which need no interface) went in; everything else is unchanged.
    const rules = await ourRules();
    expect(rules).toEqual(expect.arrayContaining(expectedRules()));
    expect(rules.some((x) => x.endsWith('lookup 10009'))).toBe(true);
    const back = await apply(main());
    expect(back.ok).toBe(true);
    expect(await ourRules()).toEqual(expectedRules());
  });

  it('routes whose link is down are skipped (no error) and added by the apply after it came up', async () => {
    // A veth pair with both ends inside the device namespace, left down.
    await sb.run(sb.devNs, ['ip', 'link', 'add', 'nsr0', 'type', 'veth', 'peer', 'name', 'nsr1']);
    try {
      const ifindex = Number(await sh(sb.devNs, 'cat', '/sys/class/net/nsr0/ifindex'));
      const extra: Svc = { u: b, table: 10008, mark: 0x80000, slot: 8, ifindex, ifname: 'nsr0' };
      const desired = desiredFor([svcB(), svcC(), extra]);
      const down = await apply(desired);
      expect(down.error).toBeUndefined();
      expect(down.ok).toBe(true);
      expect(down.report.skipped.length).toBeGreaterThan(0);
      expect(down.report.skipped.every((s) => s.includes('table 10008'))).toBe(true);
      expect(down.logs.some((l) => l.startsWith('warn') && l.includes('not reachable yet'))).toBe(true);

      await sb.run(sb.devNs, ['ip', 'link', 'set', 'nsr1', 'up']);
      await sb.run(sb.devNs, ['ip', 'link', 'set', 'nsr0', 'up']);
      const up = await apply(desired);
      expect(up.ok).toBe(true);
      expect(up.report.skipped).toEqual([]);
      expect(await tableRoutes(10008)).toEqual(
        [
          `-4 default via ${b.gw4} dev nsr0`,
          `-4 ${b.subnet4} dev nsr0`,
          `-6 default via ${b.gw6} dev nsr0`,
          `-6 ${b.subnet6} dev nsr0`,
        ].sort(),
      );
    } finally {
      await sb.run(sb.devNs, ['ip', 'link', 'del', 'nsr0']);
    }
    const back = await apply(main());
    expect(back.ok).toBe(true);
    expect(await ourRules()).toEqual(expectedRules());
    expect(await tableRoutes(10008)).toEqual([]);
  });

  it('a gateway outside every prefix of the service (a /32 address) gets onlink, and packets flow', async () => {
    const p2p: Svc = { ...svcC(), table: 10003, slot: 3, mark: 0x30000, prefix4: 32 };
    const r = await apply(desiredFor([svcB(), p2p]));
    expect(r.ok).toBe(true);
    expect(await tableRoutes(10003)).toEqual(
      [
        `-4 default via ${c.gw4} dev eth-c onlink`,
        `-4 ${c.devAddr4} dev eth-c`,
        `-6 default via ${c6ll} dev eth-c`,
        `-6 ${c.subnet6} dev eth-c`,
      ].sort(),
    );
    expect(await tableRoutes(10002)).toEqual([]);
    await sb.clearHttpLog();
    const res = await sb.httpRequest(sb.devNs, url4(), { localAddress: c.devAddr4 });
    expect(res.ok).toBe(true);
    expect((await sb.httpLog()).map((e) => e.client)).toEqual([c.devAddr4]);
    const back = await apply(main());
    expect(back.ok).toBe(true);
    expect(await tableRoutes(10003)).toEqual([]);
  });

  it('apply time for 1 and for 200 services (printed, not asserted)', async () => {
    const uplinks = sb.uplinks;
    const many: Svc[] = Array.from({ length: 200 }, (_, i) => ({
      u: uplinks[i % uplinks.length]!,
      table: 10100 + i,
      mark: (i + 1) << 16,
      slot: 100 + i,
    }));
    const one = desiredFor([svcB()]);
    const all = desiredFor(many);
    const res = await drive([
      { cmd: 'clear' },
      { cmd: 'apply', desired: one },
      { cmd: 'apply', desired: one },
      { cmd: 'clear' },
      { cmd: 'apply', desired: all },
      { cmd: 'apply', desired: all },
      { cmd: 'clear' },
    ]);
    const [, one1, one2, , all1, all2, clear200] = res as [
      StepResult,
      StepResult,
      StepResult,
      StepResult,
      StepResult,
      StepResult,
      StepResult,
    ];
    for (const s of res) expect(s.ok, s.error).toBe(true);
    console.log(
      `[routing-adapter] 1 service: first apply ${one1.ms} ms (${one1.lastOps} ops), repeat ${one2.ms} ms (${one2.lastOps} ops); ` +
        `200 services: first apply ${all1.ms} ms (${all1.lastOps} ops), repeat ${all2.ms} ms (${all2.lastOps} ops), clear ${clear200.ms} ms (${clear200.lastOps} ops)`,
    );
    expect(one2.lastOps).toBe(0);
    expect(all2.lastOps).toBe(0);
    // 4 routes and 4 rules per service (plus sysctls of eth-a, not managed before).
    expect(all1.lastOps).toBeGreaterThanOrEqual(200 * 8);
    expect(clear200.lastOps).toBe(200 * 8);
  });

  it('clear() leaves nothing of ours: the rule and route dumps equal those before the first apply', async () => {
    await apply(main());
    const [cleared, again] = await drive([{ cmd: 'clear' }, { cmd: 'clear' }]);
    expect(cleared!.ok).toBe(true);
    expect(cleared!.lastOps).toBe(8 + 8);
    expect(again!.lastOps).toBe(0);
    expect(await kernelDump()).toEqual(baseline);
    await expectForeignIntact();
  });
});
