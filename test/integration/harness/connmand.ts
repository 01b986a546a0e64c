/**
 * A real ConnMan (`/usr/sbin/connmand`, Debian's `connman` 1.41) inside a sandbox's device
 * namespace, on the sandbox's private bus: the reference our daemon must be wire-compatible with.
 *
 * ```ts
 * const sb = await createSandbox();
 * const cm = await startConnmand(sb);          // owns net.connman, eth-a..c ready, one online
 * ... createSession({ transport: new DBusTransport({ busAddress: sb.dbusAddress! }) }) ...
 * await cm.stop();
 * ```
 *
 * Safety: a connmand in the machine's root network namespace takes over the machine's network.
 * So connmand is only ever exec'd by a shell that first proves it sits in the sandbox's device
 * namespace (the inode of `/run/netns/<dev>`, which must differ from every inode that could be
 * the root one), on the sandbox's private bus, and inside its own mount and UTS namespaces.
 * There `/var/lib`, `/run` and `/etc/resolv.conf` are private, so its storage, resolv.conf,
 * xtables lock and syslog socket, and the hostname its loopback plugin sets, never reach the
 * host. The parents are covered rather than `/var/lib/connman` and `/run/connman` because those
 * need not exist, and creating mount points would change the host (and removing them later
 * would detach the mounts of a concurrent run). It refuses to start while any connmand runs
 * in the root namespace, and never signals a process it did not start: connmand is tracked by
 * the sandbox and killed by pid and process group in `stop()` and in `sb.destroy()`.
 *
 * Addressing: connmand manages the uplinks itself (it takes them down and up, flushes addresses
 * and sets its own), so the harness's static addresses cannot stay. Instead of DHCP servers in
 * the routers, a ConnMan provisioning file (`<storage>/netsession-it.config`) gives every uplink
 * the plan's addresses as a fixed configuration: the routers, their source filters and the
 * internet host keep working unchanged, no extra package is needed, and there is no DHCP timing
 * (nor veth checksum-offload trouble, which breaks ConnMan's DHCP client). connmand still owns
 * the links: it brings them up, adds the addresses and routes, and tracks carrier.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dbus from 'dbus-next';
import { BUS_NAME, INTERFACES } from '../../../lib/protocol.js';
import { unwrap } from '../support/connman-client.js';
import type { ProcessExit, SandboxProcess } from './exec.js';
import { waitFor } from './exec.js';
import { ipBatch } from './netns.js';
import type { Uplink } from './plan.js';
import type { Sandbox } from './sandbox.js';

/** Where Debian installs the daemon. */
export const CONNMAND = '/usr/sbin/connmand';

/**
 * ConnMan's own bus policy (same package): `createSandbox({ dbus: { policy: 'system', include:
 * [CONNMAN_BUS_POLICY] } })` gives connmand the bus it has on a real system.
 */
export const CONNMAN_BUS_POLICY = '/usr/share/dbus-1/system.d/connman.conf';

type MessageBus = ReturnType<typeof dbus.sessionBus>;

/** The kernel's fixed inode of the initial network namespace (PROC_NET_INIT_INO). */
const PROC_NET_INIT_INO = 0xeffffff9;

/** Options for {@link startConnmand}. */
export interface ConnmandOptions {
  /**
   * Run ConnMan's online check against the sandbox's HTTP server (default true). Its online
   * endpoint already answers as 1.41 needs: 200, `X-ConnMan-Status: online`, an empty body.
   */
  onlineCheck?: boolean;
  /** Pass `-d` (debug log to stderr). Default false. */
  debug?: boolean;
  /** Resolve once every uplink's service is ready (`all`, default) or once one is (`one`); see also `waitOnline`. */
  waitFor?: 'all' | 'one';
  /** Also wait until one service is `online` (default: when the online check is on; ConnMan checks only the default service). */
  waitOnline?: boolean;
  /** Default 30 s, for the bus name and the services together. */
  readyTimeoutMs?: number;
  /**
   * Uplinks whose IPv4 comes from DHCP (ConnMan's own client) instead of the plan's fixed
   * address; a DHCP server must serve them (startDhcpServer). Default none.
   */
  dhcp?: readonly string[];
}

/** One ConnMan service, as `Manager.GetServices` reports it. */
export interface ConnmanService {
  path: string;
  /** `idle`, `association`, `configuration`, `ready`, `online`, `disconnect`, `failure`. */
  state: string;
  /** The device interface (`Ethernet.Interface`), or null. */
  interface: string | null;
  type: string;
  name: string;
}

/** A running connmand. */
export interface ConnmandHandle {
  /** Pid of connmand itself (the harness's `ip netns exec … unshare … sh` exec'd into it). */
  readonly pid: number;
  readonly process: SandboxProcess;
  /** Resolves (never rejects) when connmand has exited. */
  readonly exited: Promise<ProcessExit>;
  /** Everything connmand wrote to stdout and stderr so far (its log goes to stderr). */
  logs(): string;
  /** The services, in ConnMan's order (the default service first). */
  services(): Promise<ConnmanService[]>;
  /** Waits until `pred` holds for the services; rejects with the log tail on timeout or exit. */
  waitForServices(
    what: string,
    pred: (services: ConnmanService[]) => boolean,
    timeoutMs?: number,
  ): Promise<ConnmanService[]>;
  /** Stops connmand (signal to its process group, SIGKILL after `graceMs`, default 5 s). Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcessExit>;
}

/** Why connmand cannot run here (not installed), or null. */
export function connmandSkipReason(): string | null {
  for (const file of [CONNMAND, CONNMAN_BUS_POLICY]) {
    try {
      statSync(file);
    } catch {
      return `${file} not found (apt-get install -y --no-install-recommends connman; scripts/install-deps.sh keeps it from starting)`;
    }
  }
  for (const dir of ['/var/lib', '/run']) {
    try {
      if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
    } catch {
      return `${dir} does not exist`;
    }
  }
  return null;
}

function netnsInode(link: string): number | null {
  const m = /^net:\[(\d+)\]$/.exec(link.trim());
  return m ? Number(m[1]) : null;
}

/** Inodes that may be the machine's root network namespace, as far as this process can tell. */
function rootNetnsCandidates(): Set<number> {
  const out = new Set<number>([PROC_NET_INIT_INO]);
  for (const path of ['/proc/self/ns/net', '/proc/1/ns/net']) {
    try {
      const ino = netnsInode(readlinkSync(path));
      if (ino !== null) out.add(ino);
    } catch {
      // /proc/1 can be unreadable even for root in some sandboxes; the other candidates stand.
    }
  }
  return out;
}

/**
 * Pids of connmand processes running in a namespace that may be the root one. The harness
 * never starts one there and never signals one it did not start: it refuses to go on instead.
 */
export function rootNetnsConnmands(): number[] {
  const roots = rootNetnsCandidates();
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'connmand') continue;
      const ino = netnsInode(readlinkSync(`/proc/${entry}/ns/net`));
      if (ino === null || roots.has(ino)) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/**
 * The `net:[inode]` of the sandbox's device namespace, proven by a probe started exactly the
 * way connmand will be (`ip netns exec <dev> unshare --mount --uts …`). Throws unless the
 * probe's namespace is the named one and none that could be the root namespace.
 */
export async function proveDeviceNetns(sb: Sandbox): Promise<string> {
  let named: number;
  try {
    named = statSync(`/run/netns/${sb.devNs}`).ino;
  } catch {
    named = statSync(`/var/run/netns/${sb.devNs}`).ino;
  }
  const probe = await sb.run(sb.devNs, [
    'unshare',
    '--mount',
    '--uts',
    '--propagation',
    'private',
    'readlink',
    '/proc/self/ns/net',
  ]);
  const seen = netnsInode(probe.stdout);
  const roots = rootNetnsCandidates();
  if (seen === null || seen !== named || roots.has(seen)) {
    throw new Error(
      `refusing to start connmand: probe in ${sb.devNs} saw ${probe.stdout.trim() || '(nothing)'}, named namespace inode ${named}, ` +
        `root candidates ${[...roots].join(', ')}`,
    );
  }
  return `net:[${seen}]`;
}

/** A bus connection that finished its Hello; a failed one is closed, never leaked. */
function openBus(address: string, timeoutMs = 5000): Promise<MessageBus> {
  return new Promise((resolve, reject) => {
    const bus = dbus.sessionBus({ busAddress: address });
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      bus.removeListener('connect', ok);
      // The dying stream may still emit errors.
      bus.on('error', () => undefined);
      bus.disconnect();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const ok = (): void => {
      clearTimeout(timer);
      bus.removeListener('error', fail);
      bus.on('error', () => undefined);
      resolve(bus);
    };
    const timer = setTimeout(() => fail(new Error(`no Hello reply from ${address} within ${timeoutMs} ms`)), timeoutMs);
    bus.once('connect', ok);
    bus.once('error', fail);
  });
}

function netmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

/**
 * The provisioning file: each uplink's service (matched by MAC) gets the plan's addresses, or
 * IPv4 by DHCP when its name is in `dhcp`.
 */
export function provisioningConfig(uplinks: readonly Uplink[], dhcp: readonly string[] = []): string {
  const lines = [
    '[global]',
    'Name = netsession-it',
    'Description = sandbox uplinks with the harness plan addresses',
    '',
  ];
  for (const u of uplinks) {
    lines.push(
      `[service_${u.name.replace(/[^A-Za-z0-9]/g, '_')}]`,
      'Type = ethernet',
      `MAC = ${u.mac}`,
      dhcp.includes(u.name) ? 'IPv4 = dhcp' : `IPv4 = ${u.devAddr4}/${netmask(u.prefix4)}/${u.gw4}`,
      u.devAddr6 && u.gw6 ? `IPv6 = ${u.devAddr6}/${u.prefix6}/${u.gw6}` : 'IPv6 = off',
      // 1.41's online check gives up ("Could not get nameservers") on a service without any, even
      // for a URL with an address literal, which it then never looks up. Nothing answers DNS here.
      `Nameservers = ${u.gw4}`,
      '',
    );
  }
  return lines.join('\n');
}

function mainConf(sb: Sandbox, onlineCheck: boolean): string {
  return [
    '[General]',
    `EnableOnlineCheck=${onlineCheck}`,
    `OnlineCheckIPv4URL=${sb.inet.onlineUrl4}`,
    `OnlineCheckIPv6URL=${sb.inet.onlineUrl6}`,
    // Its loopback plugin and DHCP must not rename anything, even in a private UTS namespace.
    'AllowHostnameUpdates=false',
    'AllowDomainnameUpdates=false',
    '',
  ].join('\n');
}

// Runs as `ip netns exec <dev> unshare --mount --uts --propagation private sh -c SCRIPT`. The
// checks run in the very process that then becomes connmand (exec, no fork), and any failing
// step (`set -e`) ends it before the exec.
const START_SCRIPT = `
set -eu
netns=$(readlink /proc/self/ns/net)
if [ "$netns" != "$NSH_CM_NETNS" ]; then
  echo "connmand-start: refusing: in $netns, expected $NSH_CM_NETNS" >&2; exit 97
fi
if [ "$(readlink /proc/self/ns/mnt)" = "$NSH_CM_HOST_MNT" ]; then
  echo "connmand-start: refusing: no private mount namespace" >&2; exit 98
fi
if [ -z "\${DBUS_SYSTEM_BUS_ADDRESS:-}" ] || [ "$DBUS_SYSTEM_BUS_ADDRESS" != "$NSH_CM_BUS" ]; then
  echo "connmand-start: refusing: not on the private bus" >&2; exit 99
fi
# resolv.conf first: if it is a symlink into /run, its target must be resolved before /run is hidden.
if [ -e /etc/resolv.conf ]; then mount --bind "$NSH_CM_DIR/resolv.conf" /etc/resolv.conf; fi
mount --bind "$NSH_CM_DIR/var-lib" /var/lib
mount --bind "$NSH_CM_DIR/run" /run
# rfkill is not namespaced: a disabled technology would block the host's radios.
if [ -e /dev/rfkill ]; then mount --bind /dev/null /dev/rfkill; fi
exec ${CONNMAND} "$@"
`;

/**
 * Starts connmand in `sb.devNs` as described at the top of this file and resolves once it owns
 * `net.connman` and its services are up (see {@link ConnmandOptions.waitFor}). On failure it is
 * stopped again and the error carries its log.
 */
export async function startConnmand(sb: Sandbox, opts: ConnmandOptions = {}): Promise<ConnmandHandle> {
  const bus = sb.dbusAddress;
  if (!bus) throw new Error('startConnmand needs a sandbox with a private bus');
  const reason = connmandSkipReason();
  if (reason) throw new Error(reason);
  // The bus socket and our private dirs must stay visible after /var/lib and /run are covered.
  if (/^\/(run|var\/run|var\/lib)(\/|$)/.test(sb.tmpDir))
    throw new Error(`sandbox dir ${sb.tmpDir} would be hidden from connmand`);
  const onlineCheck = opts.onlineCheck ?? true;

  const foreign = rootNetnsConnmands();
  if (foreign.length)
    throw new Error(
      `a connmand runs in the root network namespace (pid ${foreign.join(', ')}); not starting another, not touching it`,
    );
  const netns = await proveDeviceNetns(sb);
  const dir = join(sb.tmpDir, 'connmand');
  const storage = join(dir, 'var-lib', 'connman');
  await mkdir(storage, { recursive: true });
  await mkdir(join(dir, 'run', 'connman'), { recursive: true });
  await writeFile(join(dir, 'resolv.conf'), '# private resolv.conf of the sandbox connmand\n');
  await writeFile(join(dir, 'main.conf'), mainConf(sb, onlineCheck));
  // Technologies on, no time or timezone updates from the network.
  await writeFile(
    join(storage, 'settings'),
    [
      '[global]',
      'OfflineMode=false',
      'TimeUpdates=manual',
      'TimezoneUpdates=manual',
      '',
      '[Wired]',
      'Enable=true',
      'Tethering=false',
      '',
    ].join('\n'),
  );
  await writeFile(join(storage, 'netsession-it.config'), provisioningConfig(sb.uplinks, opts.dhcp));

  // connmand configures the uplinks itself: hand them over down and empty, as a boot would.
  await ipBatch(
    sb.tmpDir,
    sb.devNs,
    'connmand-handover',
    sb.uplinks.flatMap((u) => [`address flush dev ${u.ifname}`, `link set ${u.ifname} down`]),
  );

  const args = [
    '-n',
    '-c',
    join(dir, 'main.conf'),
    '--nodnsproxy',
    `--device=${sb.uplinks.map((u) => u.ifname).join(',')}`,
    ...(opts.debug ? ['-d'] : []),
  ];
  const proc = sb.spawn(
    sb.devNs,
    ['unshare', '--mount', '--uts', '--propagation', 'private', 'sh', '-c', START_SCRIPT, 'connmand-start', ...args],
    {
      env: {
        NSH_CM_NETNS: netns,
        NSH_CM_HOST_MNT: readlinkSync('/proc/self/ns/mnt'),
        NSH_CM_BUS: bus,
        NSH_CM_DIR: dir,
      },
    },
  );
  const logs = (): string => proc.stdout + proc.stderr;
  const describe = (list: ConnmanService[]): string =>
    list.map((x) => `${x.interface ?? x.path}=${x.state}`).join(' ') || 'none';

  let client: Promise<MessageBus> | null = null;
  let stopping: Promise<ProcessExit> | null = null;
  const getClient = (): Promise<MessageBus> => {
    if (stopping) return Promise.reject(new Error('connmand was stopped'));
    if (!client) {
      const opening = openBus(bus);
      client = opening;
      // A failed connect is not kept: the next call tries again.
      opening.catch(() => {
        if (client === opening) client = null;
      });
    }
    return client;
  };
  const services = async (): Promise<ConnmanService[]> => {
    const conn = await getClient();
    const reply = await conn.call(
      new dbus.Message({ destination: BUS_NAME, path: '/', interface: INTERFACES.manager, member: 'GetServices' }),
    );
    const list = unwrap(reply?.body[0] ?? []) as Array<[string, Record<string, unknown>]>;
    return list.map(([path, props]) => {
      const eth = props.Ethernet as { Interface?: string } | undefined;
      return {
        path,
        state: String(props.State ?? ''),
        interface: eth?.Interface ?? null,
        type: String(props.Type ?? ''),
        name: String(props.Name ?? ''),
      };
    });
  };
  const pollServices = async (
    what: string,
    pred: (s: ConnmanService[]) => boolean,
    timeoutMs: number,
  ): Promise<ConnmanService[]> => {
    let last: ConnmanService[] = [];
    const outcome = await waitFor(
      what,
      async () => {
        if (proc.exitStatus) return 'exited' as const;
        last = await services();
        return pred(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; services: ${describe(last)}`);
    });
    if (outcome === 'exited')
      throw new Error(`connmand exited (${JSON.stringify(proc.exitStatus)}) while waiting for ${what}`);
    return outcome;
  };
  const waitForServices = (
    what: string,
    pred: (s: ConnmanService[]) => boolean,
    timeoutMs = 20_000,
  ): Promise<ConnmanService[]> =>
    pollServices(what, pred, timeoutMs).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; connmand log tail:\n${logs().slice(-3000)}`);
    });

  const stop = (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<ProcessExit> => {
    stopping ??= (async () => {
      const conn = client;
      client = null;
      if (conn) (await conn.catch(() => null))?.disconnect();
      return proc.kill(signal, graceMs);
    })();
    return stopping;
  };

  try {
    // The real pid check: the process that now runs connmand is in the device namespace.
    const became = await waitFor(
      'connmand exec',
      () => {
        if (proc.exitStatus) return 'exited';
        try {
          return readlinkSync(`/proc/${proc.pid}/exe`) === CONNMAND ? 'connmand' : undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    if (became === 'exited') throw new Error(`exited (${JSON.stringify(proc.exitStatus)}) before it became connmand`);
    const actual = readlinkSync(`/proc/${proc.pid}/ns/net`);
    if (actual !== netns) throw new Error(`connmand pid ${proc.pid} is in ${actual}, expected ${netns}`);

    const timeoutMs = opts.readyTimeoutMs ?? 30_000;
    const started = Date.now();
    await Promise.race([
      sb.waitForBusName(BUS_NAME, timeoutMs),
      proc.exited.then((exit) => {
        throw new Error(`exited (${JSON.stringify(exit)}) before owning ${BUS_NAME}`);
      }),
    ]);
    const all = (opts.waitFor ?? 'all') === 'all';
    const needOnline = opts.waitOnline ?? onlineCheck;
    const connected = (s: ConnmanService): boolean => s.state === 'ready' || s.state === 'online';
    await pollServices(
      `${all ? 'every uplink' : 'one uplink'} ready${needOnline ? ' and one online' : ''}`,
      (list) => {
        const up = sb.uplinks.filter((u) => list.some((s) => s.interface === u.ifname && connected(s)));
        return (
          (all ? up.length === sb.uplinks.length : up.length > 0) &&
          (!needOnline || list.some((s) => s.state === 'online'))
        );
      },
      Math.max(1000, timeoutMs - (Date.now() - started)),
    );
  } catch (err) {
    await stop('SIGKILL', 0);
    throw new Error(`connmand did not come up: ${(err as Error).message}\nconnmand log tail:\n${logs().slice(-3000)}`);
  }

  return { pid: proc.pid, process: proc, exited: proc.exited, logs, services, waitForServices, stop };
}
