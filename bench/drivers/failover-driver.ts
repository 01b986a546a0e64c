/**
 * Failover benchmark driver: runs INSIDE the sandbox's device namespace (started by
 * bench/daemon-latency.ts through `sb.spawn(sb.devNs, ...)`), so one process both makes the link
 * change and receives the session Update, on one clock (`performance.now()`).
 *
 * Link changes are single RTM_NEWLINK requests (IFF_UP cleared or set) on netlink sockets opened
 * once up front: no `ip` process in the timed path (one `ip` spawn costs 3–8 ms, more than the
 * latency measured). Device-side sockets live in this namespace. Router-side ones (the veth peer,
 * whose admin-down is carrier loss for the device) are opened in the router's namespace
 * (netns-socket.ts), like the connmand harness's NetnsLink.
 *
 * Input: one JSON argument ({@link DriverInput}). Output: one JSON line on stdout
 * ({@link DriverOutput}); progress on stderr.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { openRtnlClient } from '../../daemon/adapters/rtnetlink/client.js';
import { RTNLGRP } from '../../daemon/adapters/rtnetlink/messages/constants.js';
import { Variant } from '../../lib/dbus/message.js';
import { ConnmanClient, Notifier, v } from '../../test/integration/support/connman-client.js';
import { FastClient } from './fast-client.js';
import { eventsIn, NlLink, socketInNamespace } from './netns-socket.js';

/** One uplink as the driver needs it. */
export interface DriverUplink {
  name: string;
  routerNs: string;
  routerLan: string;
  /** `ip` argument lists (device namespace) that put back what a device-side admin-down drops. */
  restore: string[][];
}

export interface DriverInput {
  rounds: number;
  warmup: number;
  uplinks: DriverUplink[];
  /** Pause after the session is back on its uplink, before the next cut (ms). */
  settleMs: number;
  /** Run only the scenarios with these names (default all). */
  only?: string[];
  /** A session back on its uplink may be `connected` too (connmand checks only the default service online). */
  backWhenConnected?: boolean;
  /**
   * Unpinned scenarios cut, in each round, the uplink the session is on instead of the named one.
   * A round starts once the daemon has all its services back (all `online` if they all were at the
   * start, else `ready` or `online`) and the session has been quiet for `settleMs`. connmand needs
   * this: it places an unpinned session by its internal order (mostly eth-b or eth-c while eth-a
   * is its default service, connmand-harness RESULTS.md), so waiting for the session on eth-a
   * never ends. The connmand harness measured its 2.58 ms the same way.
   */
  followSession?: boolean;
  /**
   * Sessions through the lib/dbus client as the SDK reaches the daemon: on netsessiond's private
   * socket, on the bus to connmand (it has no other way in). Default: the dbus-next client on the bus.
   */
  direct?: boolean;
}

/** Raw samples of one scenario, in ms from the moment before the RTM_NEWLINK was sent. */
export interface ScenarioResult {
  name: string;
  /** Link change → first Update of the session. */
  firstUpdate: number[];
  /** → the Update carrying State=disconnected (null in a round where none came). */
  disconnected: Array<number | null>;
  /** → the Update carrying another, non-empty Interface (unpinned sessions only). */
  newInterface: Array<number | null>;
  /** The netlink ACK of the link change. */
  netlinkAck: number[];
  /**
   * → the device-side RTM_NEWLINK of the uplink reaching a listener in this process (the same
   * multicast the daemon receives): splits the latency into kernel and daemon + D-Bus parts.
   */
  kernelEvent: Array<number | null>;
  /** Link up → first Update back on the uplink (connected or online), router side only. */
  upToBack: Array<number | null>;
  /** Link up → Update with State=online on the uplink (includes one online check). */
  upToOnline: Array<number | null>;
  /** CLOCK_MONOTONIC (ms) of each measured cut, to line rounds up with a daemon-side trace. */
  t0Monotonic: number[];
  /** Keys of each round's first Update (to show what the daemon sends). */
  firstUpdateKeys: string[];
  /** The uplink cut in each measured round (differs from the scenario's only with `followSession`). */
  cutInterface: string[];
  wallS: number;
}

export interface DriverOutput {
  scenarios: ScenarioResult[];
}

const RTM_NEWLINK = 16;
/** performance.now() + this = process.hrtime (CLOCK_MONOTONIC, the same clock in every process), in ms. */
const MONOTONIC_OFFSET = Number(process.hrtime.bigint()) / 1e6 - performance.now();
/** Settings of a CreateSession call, as the test client takes them. */
type SessionSettings = Parameters<ConnmanClient['createSession']>[0];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`[failover-driver] ${m}\n`);

interface Scenario {
  name: string;
  settings: SessionSettings;
  /** The uplink whose link is changed (the session is bound to it before each cut). */
  cut: string;
  side: 'dev' | 'router';
  pinned: boolean;
}

let seq = 0;

/** Where the scenarios create and destroy their sessions. */
interface SessionClient {
  createSession(settings: SessionSettings, notifier: string): Promise<{ path: string; n: Notifier }>;
  destroy(path: string): Promise<void>;
  close(): void;
}

/** lib/dbus Variants to plain values (what the dbus-next client's `unwrap` gives). */
function plain(x: unknown): unknown {
  if (x instanceof Variant) return plain(x.value);
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === 'object' && !(x instanceof Buffer))
    return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, plain(y)]));
  return x;
}

/** The lib/dbus client as the SDK reaches the daemon; Updates recorded with the time they were read. */
async function directSessions(bus: string): Promise<SessionClient> {
  const { client, direct } = await FastClient.connectDirect(bus);
  log(`sessions through lib/dbus, ${direct ? "on the daemon's private socket" : 'on the bus'}`);
  return {
    async createSession(settings, notifier) {
      const n = new Notifier();
      client.notifier(notifier).onUpdate = (at, dict) => n.recordPlain(plain(dict) as Record<string, unknown>, at);
      const { path } = await client.createSession(
        settings as Record<string, { signature: string; value: unknown }>,
        notifier,
      );
      return { path, n };
    },
    destroy: async (path) => void (await client.destroy(path)),
    close: () => client.close(),
  };
}

/** Arrival times of RTM_NEWLINK notifications in the device namespace, per ifindex. */
class LinkMonitor {
  readonly seen: Array<{ at: number; index: number }> = [];

  /** Joins RTNLGRP_LINK in this process's namespace (the device's). */
  async start(): Promise<void> {
    await eventsIn(null, [RTNLGRP.LINK], (msgs) => {
      const at = performance.now();
      // struct ifinfomsg: family u8, pad u8, type u16, index s32, ...
      for (const m of msgs)
        if (m.type === RTM_NEWLINK && m.payload.length >= 8) this.seen.push({ at, index: m.payload.readInt32LE(4) });
    });
  }

  firstAfter(t0: number, index: number): number | null {
    const e = this.seen.find((x) => x.at >= t0 && x.index === index);
    return e ? e.at : null;
  }
}

/** What a round changes: the link to set down and up, its uplink, and the device-side ifindex. */
interface CutTarget {
  link: NlLink;
  uplink: DriverUplink;
  devIndex: number;
}

/**
 * Polls the daemon until it has `count` services (any number without it), all `online` or (unless
 * `allOnline`) `ready`.
 * netsessiond checks every service and moves an unpinned session back when its uplink is online
 * again, so a round must wait for that; connmand checks only its default service (the others stay
 * `ready`), and which service that is may change between rounds.
 */
async function waitServicesUp(client: ConnmanClient, what: string, count: number | undefined, allOnline: boolean) {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const services = await client.services();
    const ok = (s: (typeof services)[number]) =>
      s.props.State === 'online' || (!allOnline && s.props.State === 'ready');
    if (services.length > 0 && (count === undefined || services.length === count) && services.every(ok))
      return services;
    if (performance.now() > deadline)
      throw new Error(
        `timed out waiting for ${what} (${count ?? 'all'} services ${allOnline ? 'online' : 'ready or online'}): ${services.map((s) => `${s.path}=${s.props.State}`).join(' ')}`,
      );
    await sleep(20);
  }
}

async function runScenario(
  client: ConnmanClient,
  sessions: SessionClient,
  sc: Scenario,
  target: (uplink: string) => CutTarget,
  input: DriverInput,
  mon: LinkMonitor,
): Promise<ScenarioResult> {
  const wall0 = performance.now();
  const notifier = `/bench/failover/n${++seq}`;
  const { path, n } = await sessions.createSession(sc.settings, notifier);
  const follow = input.followSession === true && !sc.pinned;
  const up = (s: Record<string, unknown>) =>
    s.State === 'online' || (input.backWhenConnected === true && s.State === 'connected');
  const onUplink = (s: Record<string, unknown>) => typeof s.Interface === 'string' && s.Interface !== '';
  // The uplink this round cuts; with `follow`, wherever the daemon put the session.
  let cut = sc.cut;
  const back = (s: Record<string, unknown>) => up(s) && (follow ? onUplink(s) : s.Interface === sc.cut);
  await n.waitFor(back, 15_000, `${sc.name}: session online on ${follow ? 'an uplink' : sc.cut}`);
  const start = follow ? await waitServicesUp(client, `${sc.name}: every service up`, undefined, false) : null;
  const allOnline = start?.every((s) => s.props.State === 'online') ?? false;
  const out: ScenarioResult = {
    name: sc.name,
    firstUpdate: [],
    disconnected: [],
    newInterface: [],
    netlinkAck: [],
    kernelEvent: [],
    upToBack: [],
    upToOnline: [],
    t0Monotonic: [],
    firstUpdateKeys: [],
    cutInterface: [],
    wallS: 0,
  };
  for (let i = 0; i < input.warmup + input.rounds; i++) {
    await n.waitFor(back, 15_000, `${sc.name}: back on ${follow ? 'an uplink' : sc.cut} before round ${i}`);
    if (start) await waitServicesUp(client, `${sc.name}: services back before round ${i}`, start.length, allOnline);
    await sleep(input.settleMs);
    // With `follow`, a round starts only once the session has been quiet for settleMs, so its
    // first Update cannot be a late move back to the returning uplink.
    while (follow && performance.now() - (n.updates.at(-1)?.at ?? 0) < input.settleMs) await sleep(input.settleMs);
    if (follow) cut = n.settings.Interface as string;
    const { link, uplink, devIndex } = target(cut);
    const k = n.updates.length;
    const { t0, ack } = await link.set(false);
    const done = (s: Record<string, unknown>) =>
      sc.pinned ? s.State === 'disconnected' : s.Interface !== cut && s.Interface !== '' && s.Interface !== undefined;
    await n.waitFor(
      () => n.updates.length > k && done(n.settings),
      5_000,
      `${sc.name}: reaction to the cut in round ${i}`,
    );
    // Let a second Update of the same event (if the daemon sends one) arrive before up.
    await sleep(30);
    const ups = n.updates.slice(k);
    const k2 = n.updates.length;
    const raised = await link.set(true);
    if (sc.side === 'dev') {
      // The kernel dropped the uplink's routes with the admin-down; put them back (not timed).
      for (const argv of uplink.restore) {
        const r = spawnSync('ip', argv, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`ip ${argv.join(' ')}: ${r.stderr}`);
      }
    }
    await n.waitFor(back, 15_000, `${sc.name}: back on ${follow ? 'an uplink' : cut} after round ${i}`);
    if (i < input.warmup) continue;
    const at = (pred: (u: Record<string, unknown>) => boolean) => {
      const u = ups.find((x) => pred(x.values));
      return u ? u.at - t0 : null;
    };
    out.firstUpdate.push(ups[0]!.at - t0);
    out.firstUpdateKeys.push(Object.keys(ups[0]!.values).join(','));
    out.cutInterface.push(cut);
    out.disconnected.push(at((u) => u.State === 'disconnected'));
    out.newInterface.push(
      sc.pinned ? null : at((u) => typeof u.Interface === 'string' && u.Interface !== '' && u.Interface !== cut),
    );
    out.netlinkAck.push(ack);
    out.t0Monotonic.push(t0 + MONOTONIC_OFFSET);
    const ev = mon.firstAfter(t0, devIndex);
    out.kernelEvent.push(ev === null ? null : ev - t0);
    mon.seen.length = 0;
    if (sc.side === 'router') {
      const ups2 = n.updates.slice(k2);
      const b = ups2.find(
        (x) =>
          (x.values.State === 'connected' || x.values.State === 'online') && (sc.pinned || x.values.Interface === cut),
      );
      const o = ups2.find((x) => x.values.State === 'online' && (sc.pinned || n.settings.Interface === cut));
      out.upToBack.push(b ? b.at - raised.t0 : null);
      out.upToOnline.push(o ? o.at - raised.t0 : null);
    }
  }
  await sessions.destroy(path);
  out.wallS = (performance.now() - wall0) / 1000;
  const cuts = follow ? ` (cut: ${[...new Set(out.cutInterface)].join(', ')})` : '';
  log(`${sc.name}: ${out.firstUpdate.length} rounds in ${out.wallS.toFixed(1)} s${cuts}`);
  return out;
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '{}') as DriverInput;
  const bus = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  if (!bus) throw new Error('DBUS_SYSTEM_BUS_ADDRESS is not set');
  const devSock = await openRtnlClient();
  // Every uplink's links, opened up front: with `followSession` a round may cut any of them.
  const links = new Map<string, { uplink: DriverUplink; dev: NlLink; router: NlLink }>();
  for (const u of input.uplinks)
    links.set(u.name, {
      uplink: u,
      dev: NlLink.open(devSock, u.name),
      router: NlLink.open(await socketInNamespace(u.routerNs), u.routerLan),
    });
  const targetOn =
    (side: Scenario['side']) =>
    (name: string): CutTarget => {
      const l = links.get(name);
      if (!l) throw new Error(`no uplink ${name}`);
      return { link: side === 'dev' ? l.dev : l.router, uplink: l.uplink, devIndex: l.dev.index };
    };
  const mon = new LinkMonitor();
  await mon.start();
  const client = await ConnmanClient.connect(bus);
  const sessions: SessionClient = input.direct
    ? await directSessions(bus)
    : {
        createSession: (settings, notifier) => client.createSession(settings, notifier),
        destroy: async (path) => void (await client.session(path).destroy()),
        close: () => undefined,
      };
  const pinnedB = { AllowedInterface: v.s('eth-b') };
  const scenarios: Scenario[] = [
    { name: 'pinned eth-b, dev-side admin down', settings: pinnedB, cut: 'eth-b', side: 'dev', pinned: true },
    { name: 'pinned eth-b, router-side carrier loss', settings: pinnedB, cut: 'eth-b', side: 'router', pinned: true },
    { name: 'unpinned on eth-a, router-side carrier loss', settings: {}, cut: 'eth-a', side: 'router', pinned: false },
    { name: 'unpinned on eth-a, dev-side admin down', settings: {}, cut: 'eth-a', side: 'dev', pinned: false },
  ];
  const results: ScenarioResult[] = [];
  for (const sc of scenarios) {
    if (input.only && !input.only.includes(sc.name)) continue;
    results.push(await runScenario(client, sessions, sc, targetOn(sc.side), input, mon));
  }
  sessions.close();
  client.disconnect();
  process.stdout.write(`${JSON.stringify({ scenarios: results } satisfies DriverOutput)}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
