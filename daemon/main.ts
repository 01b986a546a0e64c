#!/usr/bin/env node
/**
 * netsessiond: the composition root. The only file that names concrete adapters.
 * Runs in the foreground, logs to stderr, exits cleanly on SIGTERM/SIGINT after sending
 * Notification.Release to every session's client.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDBusAdapter } from './adapters/dbus/index.js';
import { createIptablesBackend } from './adapters/iptables/index.js';
import { HttpProbe } from './adapters/online-check/http-probe.js';
import { createNftablesBackend } from './adapters/nftables/index.js';
import { UdhcpcClient } from './adapters/dhcp/index.js';
import { createPolicyDir } from './adapters/policy-dir/policy-dir.js';
import { createProvisioningDir } from './adapters/policy-dir/provisioning-dir.js';
import { createLinkConfig } from './adapters/rtnetlink/link-config.js';
import { createIpv6Switches } from './adapters/system/ipv6-sysctl.js';
import { createResolvWriter } from './adapters/system/resolv-writer.js';
import { createRtnetlinkLinkSource } from './adapters/rtnetlink/link-source.js';
import { createLinkStats } from './adapters/rtnetlink/link-stats.js';
import { createRtnetlinkRouting } from './adapters/rtnetlink/routing.js';
import { createCgroupDirectory } from './adapters/system/cgroup-dir.js';
import { systemClock } from './adapters/system/clock.js';
import { openFileStore } from './adapters/system/file-store.js';
import { createIdentityResolver } from './adapters/system/identity.js';
import { inRootNetns } from './adapters/system/netns.js';
import { loadConfig, USAGE, type DaemonConfig } from './config.js';
import { Engine } from './core/engine.js';
import type { Accounting, Firewall, Logger, Routing } from './ports.js';
import { Runtime, type RuntimeDeps } from './runtime.js';

function makeLogger(debug: boolean): Logger {
  return (level, msg) => {
    if (level === 'debug' && !debug) return;
    process.stderr.write(`netsessiond ${level}: ${msg}\n`);
  }
}

async function main(argv: string[]): Promise<number> {
  let config: DaemonConfig | null;
  try {
    config = loadConfig(argv, (p) => readFileSync(p, 'utf8'));
  } catch (err) {
    process.stderr.write(`netsessiond: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!config) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = makeLogger(config.debug);
  if (!config.allowRootNetns && inRootNetns()) {
    log('error', "refusing to run in the machine's root network namespace (it would manage this host's links); run it inside a namespace (ip netns exec ...) or pass --allow-root-netns");
    return 1;
  }

  const engine = new Engine({ core: config.core, preferredTechnologies: config.preferredTechnologies, manage: config.manage });
  const bus = createDBusAdapter({ busName: config.busName, log });
  const datapath = makeDatapath(config, engine, log);
  const runtime = new Runtime({
    engine,
    events: bus.events,
    links: createRtnetlinkLinkSource({ overrides: config.bearers, include: config.interfaces, ignore: config.ignore, log: (m) => log('debug', m) }),
    identity: createIdentityResolver(),
    clock: systemClock,
    online: {
      settings: config.onlineCheck,
      probe: new HttpProbe({ connectTimeoutMs: config.onlineCheck.connectTimeoutMs }),
      urls: { 4: config.onlineCheckUrl4, 6: config.onlineCheckUrl6 },
    },
    policies: createPolicyDir(config.policyDir, log),
    store: await openFileStore(config.stateDir),
    linkStats: createLinkStats({ log }),
    cgroups: createCgroupDirectory(),
    ...(engine.manage.enabled ? { manage: makeManage(config, log) } : {}),
    // Both modes: observed links take nameservers, Metered and Roaming from it too.
    provisioning: createProvisioningDir(config.provisioningDir, log),
    ...datapath,
    reconcileIntervalMs: config.reconcileInterval * 1000,
    log,
  });

  await bus.start(runtime);
  await runtime.start();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', `${signal}: releasing sessions and stopping`);
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
  return -1;
}

/** Manage mode's adapters: rtnetlink link configuration, udhcpc, IPv6 sysctls, the nameserver file. */
function makeManage(config: DaemonConfig, log: Logger): NonNullable<RuntimeDeps['manage']> {
  const cmd = config.dhcpClient[0] ?? '';
  const found = cmd.includes('/') ? existsSync(cmd) : (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
  // Not fatal: statically provisioned links work without it.
  if (!found) log('error', `DhcpClient '${cmd}' not found (PATH=${process.env.PATH ?? ''}): links configured by DHCP will stay in 'configuration'; install busybox's udhcpc or set DhcpClient`);
  return {
    links: createLinkConfig({ log }),
    dhcp: new UdhcpcClient({
      command: config.dhcpClient,
      // A udhcpc left by a daemon that was SIGKILLed is found by its pid file and ended.
      runDir: join(config.stateDir, 'dhcp'),
      log: (level, msg) => log(level, `dhcp: ${msg}`),
    }),
    ipv6: createIpv6Switches(),
    nameservers: createResolvWriter({ path: config.resolvConf }),
  };
}

/** The kernel datapath chosen by `--firewall`: routing always, marking and counting by backend. */
function makeDatapath(config: DaemonConfig, engine: Engine, log: Logger): { routing?: Routing; firewall?: Firewall; accounting?: Accounting } {
  if (config.firewall === 'none') return {};
  const routing = createRtnetlinkRouting({ config: engine.config, log });
  if (config.firewall === 'iptables') {
    const ipt = createIptablesBackend({ log });
    return { routing, firewall: ipt, accounting: ipt };
  }
  const nft = createNftablesBackend({ log });
  return { routing, firewall: nft, accounting: nft };
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
