/**
 * The integration-test world: a device namespace with several uplinks, one router namespace per
 * uplink, an "internet" namespace with an HTTP server, and a private dbus-daemon.
 *
 * ```ts
 * const sb = await createSandbox();            // eth-a, eth-b, eth-c
 * const r = await sb.httpRequest(sb.devNs, `http://${sb.inet.addr4}/x?bytes=100`, { localAddress: sb.uplink('eth-b').devAddr4 });
 * await sb.destroy();
 * ```
 */
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  claimSandboxId,
  deleteNamespace,
  destroyNamespacesSync,
  killNamespaceProcesses,
  reapStaleSandboxes,
  trackLive,
  untrackLive,
} from './cleanup.js';
import type { DbusOptions } from './dbus.js';
import { prepareDbus } from './dbus.js';
import type { CommandResult, SandboxProcess } from './exec.js';
import { ManagedProcess, runCommand, waitFor } from './exec.js';
import type { HttpLogEntry, OnlineMode } from './inet.js';
import { HTTP_SERVER_SCRIPT, HttpControl, httpServerEnv } from './inet.js';
import { buildTopology, devAddressCommands, devRouteCommands, ipBatch } from './netns.js';
import type { InetPlan, TopologyPlan, Uplink, UplinkSpec } from './plan.js';
import { DEFAULT_UPLINKS, namespacesOf, planTopology } from './plan.js';
import { reachPrefix } from './reach.js';
import type { RouterCounters } from './router.js';
import { readRouterCounters, setRouterDrop, setupRouterNft } from './router.js';

export type { DbusOptions } from './dbus.js';
export type { CommandResult, ProcessExit, SandboxProcess, StreamName } from './exec.js';
export { CommandError } from './exec.js';
export type { HttpLogEntry, OnlineMode } from './inet.js';
export type { InetPlan, Uplink, UplinkSpec } from './plan.js';
export { ONLINE_PATH } from './plan.js';
export type { RouterCounters } from './router.js';
export { integrationSkipReason, requireRoot } from './support.js';

const HTTP_PROBE_SCRIPT = fileURLToPath(new URL('./http-probe.cjs', import.meta.url));

/** Options for {@link createSandbox}. */
export interface SandboxOptions {
  /** Default: three uplinks `eth-a`, `eth-b`, `eth-c` (metrics 100, 200, 300), all dual-stack. */
  uplinks?: UplinkSpec[];
  /** Start a private system-type bus (default true, with the open policy). */
  dbus?: boolean | DbusOptions;
}

/** Run a command as another user (through `setpriv`, after entering the namespace). */
export interface RunAs {
  uid: number;
  gid: number;
  /** Supplementary groups (default: none). */
  groups?: number[];
}

/** Options for {@link Sandbox.run}. */
export interface NsRunOptions {
  /** Resolve with the non-zero exit instead of throwing {@link CommandError}. */
  allowFail?: boolean;
  /** Added to this process's environment (plus `DBUS_SYSTEM_BUS_ADDRESS` of the private bus). */
  env?: Record<string, string>;
  input?: string;
  /** Default 30 s. */
  timeoutMs?: number;
  cwd?: string;
  user?: RunAs;
}

/** Options for {@link Sandbox.spawn}. */
export interface NsSpawnOptions {
  /** Added to this process's environment (plus `DBUS_SYSTEM_BUS_ADDRESS` of the private bus). */
  env?: Record<string, string>;
  cwd?: string;
  user?: RunAs;
}

/** Options for {@link Sandbox.httpRequest}. */
export interface HttpRequestOptions {
  /** Source address to bind (Node's `localAddress`); the kernel picks one when absent. */
  localAddress?: string;
  method?: string;
  /** Give up after this long with `error: 'ETIMEDOUT'` (default 5 s). */
  timeoutMs?: number;
  /** Upload a body of this many bytes (method defaults to POST). */
  bodyBytes?: number;
  headers?: Record<string, string>;
  user?: RunAs;
}

/** Outcome of {@link Sandbox.httpRequest}; failures are values, not exceptions. */
export type HttpRequestResult = {
  /** Address and port the client socket used, and the server address it reached. */
  localAddress?: string;
  localPort?: number;
  remoteAddress?: string;
} & (
  | { ok: true; status: number; headers: Record<string, string | string[] | undefined>; bytes: number }
  | { ok: false; error: string; message: string }
);

/** State of a device-side link as `ip -j link` reports it. */
export interface LinkState {
  /** Administratively up (flag UP). */
  adminUp: boolean;
  /** Carrier present (flag LOWER_UP). */
  carrier: boolean;
  /** Kernel operstate: UP, DOWN, LOWERLAYERDOWN, ... */
  operstate: string;
  flags: string[];
}

/** One address of a device-side link (see {@link Sandbox.addresses}). */
export interface DevAddress {
  family: 4 | 6;
  local: string;
  prefixlen: number;
  scope: string;
  /** The whole `ip -d -j addr` entry (e.g. its protocol tag). */
  raw: Record<string, unknown>;
}

/** One main-table default route in the device namespace (see {@link Sandbox.defaultRoutes}). */
export interface DevRoute {
  family: 4 | 6;
  dev: string;
  gateway?: string;
  /** As the kernel reports it: an IPv6 route added with metric 0 shows 1024. */
  metric: number;
  raw: Record<string, unknown>;
}

let createdInProcess = 0;

/**
 * Builds a sandbox. Removes stale sandboxes of crashed earlier runs first. On failure everything
 * built so far is removed again before the error is thrown.
 */
export async function createSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  // Only the first sandbox of a process scans: later ones cannot find anything new to reap.
  if (createdInProcess++ === 0) await reapStaleSandboxes();
  const { id, tmpDir } = claimSandboxId();
  let plan: TopologyPlan;
  try {
    plan = planTopology(id, opts.uplinks ?? DEFAULT_UPLINKS);
  } catch (err) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }
  const sb = new Sandbox(plan, tmpDir);
  try {
    await sb._start(opts.dbus ?? true);
  } catch (err) {
    await sb.destroy().catch(() => undefined);
    throw err;
  }
  return sb;
}

/** A running sandbox. Create it with {@link createSandbox}; always {@link destroy} it. */
export class Sandbox {
  /** Unique per sandbox: `nsh-<pid>-<hex>`; every namespace name starts with it. */
  readonly id: string;
  readonly devNs: string;
  readonly inetNs: string;
  readonly uplinks: readonly Uplink[];
  readonly inet: InetPlan;
  /** Private directory (bus socket, configs, server control socket); removed at destroy. */
  readonly tmpDir: string;
  /** Every namespace of the sandbox: device, routers, internet. */
  readonly namespaces: readonly string[];
  #dbusAddress: string | null = null;
  #created: string[] = [];
  #infra: ManagedProcess[] = [];
  #procs: ManagedProcess[] = [];
  #http: HttpControl;
  #destroying: Promise<void> | null = null;

  /** @internal use {@link createSandbox} */
  constructor(plan: TopologyPlan, tmpDir: string) {
    this.id = plan.id;
    this.devNs = plan.devNs;
    this.inetNs = plan.inetNs;
    this.uplinks = plan.uplinks;
    this.inet = plan.inet;
    this.tmpDir = tmpDir;
    this.#http = new HttpControl(`${tmpDir}/http-control.sock`);
    this.namespaces = namespacesOf(plan);
  }

  /** `unix:path=...` of the private system-type bus, or null when started without one. */
  get dbusAddress(): string | null {
    return this.#dbusAddress;
  }

  /** @internal */
  async _start(dbus: boolean | DbusOptions): Promise<void> {
    trackLive(this);
    await buildTopology(
      { id: this.id, devNs: this.devNs, inetNs: this.inetNs, uplinks: [...this.uplinks], inet: this.inet },
      this.tmpDir,
      this.#created,
    );
    for (const u of this.uplinks) await setupRouterNft(u, this.tmpDir);

    const server = this.#start(
      this.inetNs,
      [process.execPath, HTTP_SERVER_SCRIPT],
      { env: httpServerEnv(this.inet, this.#http.socketPath) },
      true,
    );
    await server.waitForLine(/^ready$/, { stream: 'stdout' });

    if (dbus !== false) {
      const setup = await prepareDbus(this.tmpDir, dbus === true ? {} : dbus);
      const bus = this.#start(this.devNs, setup.argv, {}, true);
      await bus.waitForLine(/^unix:/, { stream: 'stdout' });
      this.#dbusAddress = setup.address;
    }
  }

  /** The uplink with that name; throws for an unknown one. */
  uplink(name: string): Uplink {
    const u = this.uplinks.find((x) => x.name === name);
    if (!u) throw new Error(`no uplink ${name} (have ${this.uplinks.map((x) => x.name).join(', ')})`);
    return u;
  }

  /**
   * Runs `ip netns exec <ns> cmd...` to completion. `ns` must be one of this sandbox's namespaces.
   * Throws {@link CommandError} (with stderr) on a non-zero exit unless `allowFail`.
   */
  run(ns: string, cmd: readonly string[], opts: NsRunOptions = {}): Promise<CommandResult> {
    return runCommand(this.#argv(ns, cmd, opts.user), {
      env: this.#env(opts.env),
      allowFail: opts.allowFail,
      input: opts.input,
      timeoutMs: opts.timeoutMs,
      cwd: opts.cwd,
    });
  }

  /** Starts `cmd` in `ns` as a tracked process (own process group), killed by {@link destroy}. */
  spawn(ns: string, cmd: readonly string[], opts: NsSpawnOptions = {}): SandboxProcess {
    return this.#start(ns, cmd, opts, false);
  }

  /**
   * One HTTP request from inside `ns` (a Node child there). Network failures come back as
   * `{ ok: false, error }` (`ETIMEDOUT`, `ECONNREFUSED`, `ECONNRESET`, ...).
   */
  async httpRequest(ns: string, url: string, opts: HttpRequestOptions = {}): Promise<HttpRequestResult> {
    const { user, ...probe } = opts;
    const timeoutMs = probe.timeoutMs ?? 5000;
    const { stdout } = await this.run(
      ns,
      [process.execPath, HTTP_PROBE_SCRIPT, JSON.stringify({ url, ...probe, timeoutMs })],
      {
        timeoutMs: timeoutMs + 15_000,
        ...(user ? { user } : {}),
      },
    );
    const last = stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as HttpRequestResult;
  }

  /** Device-side state of an uplink's link. */
  async linkState(uplink: string): Promise<LinkState> {
    const u = this.uplink(uplink);
    const { stdout } = await this.run(this.devNs, ['ip', '-j', 'link', 'show', 'dev', u.ifname]);
    const [link] = JSON.parse(stdout) as Array<{ flags: string[]; operstate: string }>;
    if (!link) throw new Error(`${u.ifname} not found in ${this.devNs}`);
    return {
      adminUp: link.flags.includes('UP'),
      carrier: link.flags.includes('LOWER_UP'),
      operstate: link.operstate,
      flags: link.flags,
    };
  }

  /**
   * Takes the router side of the uplink's veth down or up: the device sees carrier loss while its
   * interface stays administratively up. Resolves once the device sees the new carrier state.
   */
  async setCarrier(uplink: string, up: boolean): Promise<void> {
    const u = this.uplink(uplink);
    await this.run(u.routerNs, ['ip', 'link', 'set', u.routerLan, up ? 'up' : 'down']);
    await waitFor(`carrier ${up ? 'on' : 'off'} on ${u.ifname}`, async () => {
      const s = await this.linkState(uplink);
      return s.carrier === up || undefined;
    });
  }

  /**
   * Device-side administrative up/down. The kernel drops the uplink's routes on down; up puts
   * back its addresses and main-table default routes (as a connection manager would), then waits
   * for the carrier unless the router side is down.
   */
  async setAdmin(uplink: string, up: boolean): Promise<void> {
    const u = this.uplink(uplink);
    await this.run(this.devNs, ['ip', 'link', 'set', u.ifname, up ? 'up' : 'down']);
    if (!up) return;
    await ipBatch(this.tmpDir, this.devNs, `restore-${u.k}`, [...devAddressCommands(u), ...devRouteCommands(u)]);
    const peer = await this.run(u.routerNs, ['ip', '-j', 'link', 'show', 'dev', u.routerLan]);
    const peerUp = (JSON.parse(peer.stdout) as Array<{ flags: string[] }>)[0]?.flags.includes('UP') ?? false;
    if (peerUp)
      await waitFor(`carrier on ${u.ifname}`, async () => (await this.linkState(uplink)).carrier || undefined);
  }

  /**
   * Leaves an uplink's device side the way a freshly plugged link looks to a connection manager
   * that configures it itself (manage mode): admin down, no addresses (v4, v6, link-local), no
   * routes of either family on it in any table. The router side is untouched, so the carrier
   * comes back as soon as something sets the link up. Undo with {@link setAdmin}(name, true).
   */
  async bareUplink(uplink: string): Promise<void> {
    const u = this.uplink(uplink);
    // Down first: with keep_addr_on_down the v6 addresses survive the down, so flush after it.
    await this.run(this.devNs, ['ip', 'link', 'set', u.ifname, 'down']);
    await this.run(this.devNs, ['ip', 'addr', 'flush', 'dev', u.ifname]);
    for (const family of ['-4', '-6'])
      await this.run(this.devNs, ['ip', family, 'route', 'flush', 'dev', u.ifname, 'table', 'all'], {
        allowFail: true,
      });
  }

  /** Addresses on an uplink's device side (`ip -j addr`), optionally one family only. */
  async addresses(uplink: string, family?: 4 | 6): Promise<DevAddress[]> {
    const u = this.uplink(uplink);
    const { stdout } = await this.run(this.devNs, [
      'ip',
      '-d',
      '-j',
      ...(family ? [`-${family}`] : []),
      'addr',
      'show',
      'dev',
      u.ifname,
    ]);
    const [link] = JSON.parse(stdout || '[]') as Array<{ addr_info?: Array<Record<string, unknown>> }>;
    return (link?.addr_info ?? []).map((a) => ({
      family: a.family === 'inet6' ? 6 : 4,
      local: String(a.local),
      prefixlen: Number(a.prefixlen),
      scope: String(a.scope ?? ''),
      raw: a,
    }));
  }

  /** Main-table default routes of the device namespace, both families (metric 0 when absent). */
  async defaultRoutes(): Promise<DevRoute[]> {
    const out: DevRoute[] = [];
    for (const family of [4, 6] as const) {
      const { stdout } = await this.run(this.devNs, [
        'ip',
        `-${family}`,
        '-j',
        'route',
        'show',
        'table',
        'main',
        'default',
      ]);
      for (const r of JSON.parse(stdout || '[]') as Array<Record<string, unknown>>) {
        out.push({
          family,
          dev: String(r.dev ?? ''),
          gateway: r.gateway === undefined ? undefined : String(r.gateway),
          metric: Number(r.metric ?? 0),
          raw: r,
        });
      }
    }
    return out;
  }

  /** The uplink's router silently drops (or again forwards) all forwarded traffic; links stay up. */
  dropTraffic(uplink: string, drop: boolean): Promise<void> {
    return setRouterDrop(this.uplink(uplink), drop);
  }

  /** Forwarding counters of the uplink's router (packets, bytes, dropped, spoofed). */
  routerCounters(uplink: string): Promise<RouterCounters> {
    return readRouterCounters(this.uplink(uplink));
  }

  /** Every request the internet host has seen (since start or {@link clearHttpLog}). */
  httpLog(): Promise<HttpLogEntry[]> {
    return this.#http.log();
  }

  clearHttpLog(): Promise<void> {
    return this.#http.clearLog();
  }

  /**
   * How `GET /online/status.html` answers: `online` (200 + `X-ConnMan-Status: online`), `portal`
   * (200 without it), `redirect` (302), `error` (500), `down` (connection refused). Without
   * `uplink` this applies to everyone and drops per-uplink overrides; with `uplink` it applies to
   * requests from that uplink's subnets only (there `down` resets the connection).
   * Resolves once the server applies it.
   */
  async setOnlineMode(mode: OnlineMode, opts: { uplink?: string } = {}): Promise<void> {
    if (opts.uplink === undefined) return this.#http.setMode(mode);
    const u = this.uplink(opts.uplink);
    const subnets: Array<[string, number]> = [[u.subnet4.split('/')[0] ?? '', u.prefix4]];
    if (u.subnet6 && u.prefix6) subnets.push([u.subnet6.split('/')[0] ?? '', u.prefix6]);
    return this.#http.setMode(mode, { key: u.name, subnets });
  }

  /** Whether `name` has an owner on the private bus. */
  async busNameHasOwner(name: string): Promise<boolean> {
    const addr = this.#requireBus();
    const { stdout } = await this.run(this.devNs, [
      'dbus-send',
      `--bus=${addr}`,
      '--print-reply',
      '--dest=org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus.NameHasOwner',
      `string:${name}`,
    ]);
    return /boolean true/.test(stdout);
  }

  /** Waits until `name` is owned on the private bus (default timeout 15 s). */
  async waitForBusName(name: string, timeoutMs = 15_000): Promise<void> {
    await waitFor(`bus name ${name}`, async () => (await this.busNameHasOwner(name)) || undefined, {
      timeoutMs,
      intervalMs: 50,
    });
  }

  /**
   * Kills tracked processes (by pid, SIGTERM then SIGKILL) and anything else still running in the
   * sandbox's namespaces, deletes the namespaces and the temp dir. Idempotent; throws an
   * AggregateError listing what could not be cleaned (after trying everything).
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#destroy();
    return this.#destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  /** @internal exit-handler path: no waiting, SIGKILL only. */
  destroySync(): void {
    for (const p of [...this.#procs, ...this.#infra]) p.killSync();
    destroyNamespacesSync(this.#created, this.tmpDir);
  }

  async #destroy(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (what: Promise<unknown>): Promise<void> => {
      try {
        await what;
      } catch (err) {
        errors.push(err);
      }
    };
    // The processes under test first, while the bus and the server they may talk to still run.
    await Promise.all(this.#procs.map((p) => attempt(p.kill('SIGTERM', 3000))));
    await Promise.all(this.#infra.map((p) => attempt(p.kill('SIGTERM', 3000))));
    for (const ns of this.#created) await attempt(killNamespaceProcesses(ns));
    for (const ns of [...this.#created].reverse()) await attempt(deleteNamespace(ns));
    await attempt(rm(this.tmpDir, { recursive: true, force: true }));
    untrackLive(this);
    if (errors.length) throw new AggregateError(errors, `sandbox ${this.id}: cleanup incomplete`);
  }

  #start(ns: string, cmd: readonly string[], opts: NsSpawnOptions, infra: boolean): ManagedProcess {
    if (this.#destroying) throw new Error(`sandbox ${this.id} is destroyed`);
    const proc = ManagedProcess.start(this.#argv(ns, cmd, opts.user), { env: this.#env(opts.env), cwd: opts.cwd });
    (infra ? this.#infra : this.#procs).push(proc);
    return proc;
  }

  #argv(ns: string, cmd: readonly string[], user: RunAs | undefined): string[] {
    // Refusing foreign names keeps a typo from running something in the root namespace.
    if (!this.namespaces.includes(ns)) throw new Error(`${ns} is not a namespace of sandbox ${this.id}`);
    if (cmd.length === 0) throw new Error('empty command');
    // Another uid must reach the checkout even when it sits under a 0700 directory (reach.ts).
    const as = user
      ? [
          ...reachPrefix(),
          'setpriv',
          `--reuid=${user.uid}`,
          `--regid=${user.gid}`,
          user.groups?.length ? `--groups=${user.groups.join(',')}` : '--clear-groups',
          '--',
        ]
      : [];
    return ['ip', 'netns', 'exec', ns, ...as, ...cmd];
  }

  #env(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
    return { ...process.env, ...(this.#dbusAddress ? { DBUS_SYSTEM_BUS_ADDRESS: this.#dbusAddress } : {}), ...extra };
  }

  #requireBus(): string {
    if (!this.#dbusAddress) throw new Error(`sandbox ${this.id} has no private bus (created with dbus: false)`);
    return this.#dbusAddress;
  }
}
