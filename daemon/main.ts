#!/usr/bin/env -S node --max-semi-space-size=1 --max-old-space-size=64 --optimize-for-size --no-opt --v8-pool-size=1 --expose-gc
/**
 * netsessiond: the composition root. The only file that names concrete adapters.
 * Runs in the foreground, logs to stderr, exits cleanly on SIGTERM/SIGINT after sending
 * Notification.Release to every session's client.
 *
 * The #! line's V8 options fit a device (measured: docs/architecture.md, "Memory and start-up"):
 * - `--max-old-space-size=64` (MB): a heap limit. Without one V8 sizes its heap for a desktop and,
 *   under churn (10,000 sessions, a session storm), keeps ~80 MB of garbage headroom it never
 *   returns; with it the same runs end within a few MB of idle. The limit also caps the session
 *   count (sessionCapacity below), so clients get an error instead of an out-of-memory abort.
 * - `--max-semi-space-size=1` (MB): the young generation stays small after a burst of allocation
 *   (at the default 16 MB, 10,000 policy files left the daemon ~30 MB larger).
 * - `--optimize-for-size`, `--v8-pool-size=1` (one V8 worker thread): ~5 MB less at idle.
 * - `--no-opt`: start-up's one-off code (parsers, dumps, setup) is never optimized; the optimizing
 *   compiler goes on after the start-up memory returns (setFlagsFromString('--opt') below), so
 *   what runs hot under load — the call path, the kernel applies — is optimized (~2× less CPU
 *   per session pair) while the idle daemon holds no optimized code. Not `--lite-mode`: on Node
 *   20 it implies `--jitless` (interpreter only, no WebAssembly, a warning on every start).
 * - `--expose-gc`: full collections once start-up settled and after each burst, then glibc's
 *   malloc_trim and the page drop of node's own code (adapters/system/memory-return.ts,
 *   mapped-pages.ts).
 * The tests and the bench run the daemon with exactly this line (test/integration/harness/daemon.ts).
 *
 * Adapters a configuration does not use are never loaded (dynamic imports below): the firewall
 * backend not chosen, manage mode's link configuration, DHCP, sysctl and nameserver writers when
 * observing, the online check's HTTP probe until the first probe (docs/architecture.md,
 * "Memory and start-up", has each one's cost).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
// The daemon and netsessionctl ship in one package and report its version the same way.
import { versionLine } from '../bin/cli/version.js';
import { createDBusAdapter } from './adapters/dbus/index.js';
import { readCappedFileSync } from './adapters/files/capped-read.js';
import { createPolicyDir } from './adapters/policy-dir/policy-dir.js';
import { createProvisioningDir } from './adapters/policy-dir/provisioning-dir.js';
import { createRtnetlinkLinkSource } from './adapters/rtnetlink/link-source.js';
import { createLinkStats } from './adapters/rtnetlink/link-stats.js';
import { createCgroupDirectory } from './adapters/system/cgroup-dir.js';
import { systemClock } from './adapters/system/clock.js';
import { type FileStore, openFileStore } from './adapters/system/file-store.js';
import { createIdentityResolver } from './adapters/system/identity.js';
import { createLogger, isJournalStream } from './adapters/system/logger.js';
import { createMemoryReturner, scheduleMemoryReturns } from './adapters/system/memory-return.js';
import { inRootNetns } from './adapters/system/netns.js';
import { createServiceNotifier } from './adapters/system/sd-notify.js';
import { type DaemonConfig, loadConfig, USAGE } from './config.js';
import { Engine } from './core/engine.js';
import type { Accounting, DhcpClient, Firewall, Logger, OnlineCheck, Routing } from './ports.js';
import type { RuntimeDeps } from './runtime/deps.js';
import { Runtime } from './runtime/runtime.js';

async function main(argv: string[]): Promise<number> {
  // Before the options are parsed: `--version` answers even next to options this build lacks.
  if (argv.includes('--version')) {
    process.stdout.write(`${versionLine('netsessiond')}\n`);
    return 0;
  }
  let config: DaemonConfig | null;
  try {
    config = loadConfig(argv, (p, maxBytes) => {
      const text = readCappedFileSync(p, maxBytes);
      if (text === null) throw new Error(`${p}: no such file`);
      return text;
    });
  } catch (err) {
    process.stderr.write(`netsessiond: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!config) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = createLogger({ level: config.logLevel, journal: isJournalStream(process.env.JOURNAL_STREAM) });
  if (!config.allowRootNetns && inRootNetns()) {
    log(
      'error',
      "refusing to run in the machine's root network namespace (it would manage this host's links); run it inside a namespace (ip netns exec ...) or pass --allow-root-netns",
    );
    return 1;
  }

  const engine = new Engine({
    core: config.core,
    preferredTechnologies: config.preferredTechnologies,
    manage: config.manage,
  });
  const bus = createDBusAdapter({ busName: config.busName, peerSocket: config.peerSocket, log });
  const datapath = await makeDatapath(config, engine, log);
  const caps = { maxFileBytes: config.maxFileBytes, maxFiles: config.maxDirFiles };
  const store = await openStateStore(config, log);
  const runtime = new Runtime({
    engine,
    events: bus.events,
    links: createRtnetlinkLinkSource({
      overrides: config.bearers,
      include: config.interfaces,
      ignore: config.ignore,
      log: (m, level = 'debug') => log(level, m),
      ...netlinkRcvbuf(),
    }),
    identity: createIdentityResolver(),
    clock: systemClock,
    online: {
      settings: config.onlineCheck,
      probe: lazyProbe(config.onlineCheck.connectTimeoutMs),
      urls: { 4: config.onlineCheckUrl4, 6: config.onlineCheckUrl6 },
    },
    policies: createPolicyDir(config.policyDir, log, undefined, caps),
    ...(store ? { store } : {}),
    linkStats: createLinkStats({ log }),
    cgroups: createCgroupDirectory(),
    ...(engine.manage.enabled ? { manage: await makeManage(config, log) } : {}),
    // Both modes: observed links take nameservers, Metered and Roaming from it too.
    provisioning: createProvisioningDir(config.provisioningDir, log, undefined, {
      maxFileBytes: config.maxFileBytes,
      maxFiles: config.maxDirFiles,
    }),
    ...datapath,
    reconcileIntervalMs: config.reconcileInterval * 1000,
    sessionCapacity: sessionCapacity(log),
    log,
  });

  // Readiness: the name is owned only once links, policy and provisioning files, saved settings
  // and the kernel baseline are in place, so a client that starts the instant net.connman
  // appears gets the complete, policied state in its first Update (the bus adapter records
  // events until then and seeds its objects from the runtime).
  // The online checks' probes wait for READY=1: run during the start they delayed it by ~30 ms
  // (docs/architecture.md, "Memory and start-up").
  const notifier = await createServiceNotifier({ log });
  notifier.status('reading links, policy files and saved settings');
  runtime.holdOnlineChecks();
  // The bus handshake runs while the runtime reads links and files; only the name waits for them.
  bus.connect();
  await runtime.start();
  notifier.status('programming the kernel baseline');
  await runtime.kernelSettled();
  await bus.start(runtime);
  notifier.ready(runtime.readyLine());
  runtime.releaseOnlineChecks();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', `${signal}: releasing sessions and stopping`);
    notifier.stopping(`${signal}: releasing sessions and stopping`);
    try {
      await runtime.stop();
    } finally {
      await bus.stop();
    }
    process.exit(0);
  };
  process.on('SIGHUP', () => {
    log('info', 'SIGHUP: full reconcile of the kernel state');
    runtime.reconcileNow(true);
  });
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Keep the process alive: the bus connection and netlink sockets may be unref'd.
  setInterval(() => {}, 1 << 30);
  scheduleMemoryReturns({
    returnMemory: await createMemoryReturner(),
    // V8 reads the flag at each tier-up decision: from now on hot functions are optimized.
    afterStartUp: () => setFlagsFromString('--opt'),
  });
  return -1;
}

/** Manage mode's adapters: rtnetlink link configuration, DHCPv4, IPv6 sysctls, the nameserver file. */
async function makeManage(config: DaemonConfig, log: Logger): Promise<NonNullable<RuntimeDeps['manage']>> {
  const [{ createLinkConfig }, { createIpv6Switches }, { createResolvWriter }, { createProcSysctl }] =
    await Promise.all([
      import('./adapters/rtnetlink/link-config.js'),
      import('./adapters/system/ipv6-sysctl.js'),
      import('./adapters/system/resolv-writer.js'),
      import('./adapters/system/proc-sysctl.js'),
    ]);
  return {
    links: createLinkConfig({ sysctls: createProcSysctl(), log, ...netlinkRcvbuf() }),
    dhcp: await makeDhcpClient(config, log),
    ipv6: createIpv6Switches(),
    nameservers: createResolvWriter({ path: config.resolvConf }),
  };
}

/** `DhcpClient = internal` (default): the in-process client; otherwise the udhcpc command given. */
async function makeDhcpClient(config: DaemonConfig, log: Logger): Promise<DhcpClient> {
  const dhcpLog = (level: 'debug' | 'info' | 'warn', msg: string): void => log(level, `dhcp: ${msg}`);
  const { InternalDhcpClient, UdhcpcClient } = await import('./adapters/dhcp/index.js');
  if (config.dhcpClient.length === 1 && config.dhcpClient[0] === 'internal')
    return new InternalDhcpClient({ log: dhcpLog });
  const cmd = config.dhcpClient[0] ?? '';
  const found = cmd.includes('/')
    ? existsSync(cmd)
    : (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
  // Not fatal: statically provisioned links work without it.
  if (!found)
    log(
      'error',
      `DhcpClient '${cmd}' not found (PATH=${process.env.PATH ?? ''}): links configured by DHCP will stay in 'configuration'; install busybox's udhcpc or set DhcpClient = internal`,
    );
  return new UdhcpcClient({
    command: config.dhcpClient,
    // A udhcpc left by a daemon that was SIGKILLed is found by its pid file and ended.
    runDir: join(config.stateDir, 'dhcp'),
    log: dhcpLog,
  });
}

/** Live heap of an idle daemon with its services (measured ~7 MB), with room for garbage. */
const HEAP_BASE_BYTES = 16 * 1024 * 1024;
/** Live heap per session, measured 2.8 kB (heap snapshots, 10,000 sessions), with room for garbage. */
const HEAP_PER_SESSION_BYTES = 4 * 1024;

/**
 * How many sessions the JS heap limit (`--max-old-space-size`, set in the #! line) holds: past it
 * V8 would abort the daemon with "JavaScript heap out of memory", dropping every session.
 */
function sessionCapacity(log: Logger): number {
  const limit = getHeapStatistics().heap_size_limit;
  const cap = Math.max(1, Math.floor((limit - HEAP_BASE_BYTES) / HEAP_PER_SESSION_BYTES));
  log('debug', `memory: JS heap limit ${Math.round(limit / 1048576)} MB holds ${cap} sessions`);
  return cap;
}

/**
 * `NETSESSIOND_EVENT_RCVBUF` (bytes): the event sockets' receive buffer. A diagnostic knob: the
 * storm test makes it tiny to force overruns.
 */
function netlinkRcvbuf(): { eventRcvbuf?: number } {
  const n = Number(process.env.NETSESSIOND_EVENT_RCVBUF);
  return Number.isInteger(n) && n > 0 ? { eventRcvbuf: n } : {};
}

/**
 * The settings store, or none: a state dir that cannot be created or written (a file in its
 * place, read-only, no permission) must not keep the network down, so the daemon runs without
 * persistence and says so once, with the fix.
 */
async function openStateStore(config: DaemonConfig, log: Logger): Promise<FileStore | null> {
  try {
    return await openFileStore(config.stateDir, { maxFileBytes: config.maxFileBytes });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    log(
      'warn',
      `state directory ${config.stateDir} is unusable (${code}): running with default settings and without saving them; fix: make ${config.stateDir} a directory writable by the daemon, then restart it`,
    );
    return null;
  }
}

/** The kernel datapath chosen by `--firewall`: routing always, marking and counting by backend. */
async function makeDatapath(
  config: DaemonConfig,
  engine: Engine,
  log: Logger,
): Promise<{ routing?: Routing; firewall?: Firewall; accounting?: Accounting }> {
  if (config.firewall === 'none') return {};
  const [{ createRtnetlinkRouting }, { createProcSysctl }] = await Promise.all([
    import('./adapters/rtnetlink/routing.js'),
    import('./adapters/system/proc-sysctl.js'),
  ]);
  const routing = createRtnetlinkRouting({ config: engine.config, sysctls: createProcSysctl(), log });
  if (config.firewall === 'iptables') {
    const { createIptablesBackend } = await import('./adapters/iptables/index.js');
    const ipt = createIptablesBackend({ log });
    return { routing, firewall: ipt, accounting: ipt };
  }
  const { createNftablesBackend } = await import('./adapters/nftables/index.js');
  const nft = createNftablesBackend({ log });
  return { routing, firewall: nft, accounting: nft };
}

/**
 * The online check's HTTP probe, loaded with its first probe: with `OnlineCheckMode = none` (or
 * no service yet) the daemon never loads it.
 */
function lazyProbe(connectTimeoutMs: number): OnlineCheck {
  let probe: Promise<OnlineCheck> | null = null;
  return {
    async probe(request, signal) {
      probe ??= import('./adapters/online-check/http-probe.js').then(
        ({ HttpProbe }) => new HttpProbe({ connectTimeoutMs }),
      );
      return (await probe).probe(request, signal);
    },
  };
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`netsessiond: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
