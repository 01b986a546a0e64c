/**
 * A DHCPv4 server (dnsmasq, DHCP only) in an uplink's router namespace, serving that uplink's
 * subnet to the device.
 *
 * ```ts
 * const dhcp = await startDhcpServer(sb, 'eth-b', { dns: ['203.0.113.53'] });
 * const lease = await dhcp.waitForLease();   // { mac, address, ... }
 * await dhcp.waitForLog(/DHCPRELEASE/);
 * ```
 *
 * The pool is the four addresses after the device's static one (router .8k+1, device .8k+2,
 * pool .8k+3 … .8k+6 of the /29), so a leased address passes the router's anti-spoof filter.
 * Starting it also turns TX checksum offload off on both ends of the veth (unless asked not to):
 * otherwise the server's UDP replies leave with unfilled checksums, and raw-socket clients that
 * check them (udhcpc, ConnMan's) drop them.
 * Needs dnsmasq (dnsmasq-base) and ethtool.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxProcess } from './exec.js';
import { runCommand, waitFor } from './exec.js';
import type { Sandbox } from './sandbox.js';

/** dnsmasq refuses shorter leases. */
export const MIN_LEASE_SECONDS = 120;

/** Options for {@link startDhcpServer}. */
export interface DhcpServerOptions {
  /** DNS servers handed out (option 6); default none. */
  dns?: string[];
  /** Lease time in seconds (default and minimum {@link MIN_LEASE_SECONDS}). */
  leaseSeconds?: number;
  /**
   * Also send IPv6 router advertisements for the uplink's /64 (SLAAC, no DHCPv6), every 4 s and
   * on router solicitations; the router's link-local address is the advertised gateway.
   */
  ra?: boolean;
  /**
   * Answer requests for leases it does not know (default true). A non-authoritative server
   * stays silent to an INIT-REBOOT for an address it has no record of (RFC 2131 §4.3.2).
   */
  authoritative?: boolean;
  /**
   * Leave TX checksum offload on (default false: turned off on both veth ends). With it on, the
   * server's replies reach the device with the UDP checksum unfilled, as from any local sender;
   * a client must then trust the kernel's word (PACKET_AUXDATA) instead of the checksum.
   */
  checksumOffload?: boolean;
}

/** One line of dnsmasq's lease file. */
export interface DhcpLease {
  expires: number;
  mac: string;
  address: string;
  hostname: string;
  clientId: string;
}

/** A running dnsmasq; stopped by `stop()` or by the sandbox's destroy. */
export interface DhcpServer {
  readonly uplink: string;
  readonly proc: SandboxProcess;
  /** Addresses the server hands out, in order. */
  readonly pool: readonly string[];
  readonly dns: readonly string[];
  readonly leaseFile: string;
  /** Current leases (the lease file; dnsmasq rewrites it on every change). */
  leases(): DhcpLease[];
  /** Everything dnsmasq logged so far (stdout and stderr). */
  log(): string;
  /** How many log lines match `pattern` so far (e.g. /DHCPACK/ to count grants). */
  count(pattern: RegExp): number;
  /** Resolves with the first log line (past or future) matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the lease for `mac` (any lease when absent) once the lease file has one. */
  waitForLease(mac?: string, timeoutMs?: number): Promise<DhcpLease>;
  /** Waits until no lease for `mac` remains in the lease file. */
  waitForNoLease(mac: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, resolved once dnsmasq has exited. */
  stop(): Promise<void>;
}

function parseLeases(text: string): DhcpLease[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5)
    .map(([expires, mac, address, hostname, clientId]) => ({
      expires: Number(expires),
      mac: mac ?? '',
      address: address ?? '',
      hostname: hostname ?? '',
      clientId: clientId ?? '',
    }));
}

/** Starts dnsmasq on the router side of `uplinkName` and resolves once it serves. */
export async function startDhcpServer(
  sb: Sandbox,
  uplinkName: string,
  opts: DhcpServerOptions = {},
): Promise<DhcpServer> {
  const u = sb.uplink(uplinkName);
  const dns = opts.dns ?? [];
  const leaseSeconds = Math.max(MIN_LEASE_SECONDS, opts.leaseSeconds ?? MIN_LEASE_SECONDS);
  const [a, b, c, d] = u.gw4.split('.').map(Number) as [number, number, number, number];
  const pool = [2, 3, 4, 5].map((n) => `${a}.${b}.${c}.${d + n}`);
  const mask = prefixToMask(u.prefix4);
  const leaseFile = join(sb.tmpDir, `dnsmasq-${u.name}.leases`);

  const tx = opts.checksumOffload ? 'on' : 'off';
  await sb.run(sb.devNs, ['ethtool', '-K', u.ifname, 'tx', tx]);
  await sb.run(u.routerNs, ['ethtool', '-K', u.routerLan, 'tx', tx]);
  const proc = sb.spawn(u.routerNs, [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--user=root',
    '--group=root',
    '--port=0',
    '--log-dhcp',
    '--log-facility=-',
    `--interface=${u.routerLan}`,
    '--bind-interfaces',
    '--pid-file=',
    `--dhcp-leasefile=${leaseFile}`,
    ...(opts.authoritative === false ? [] : ['--dhcp-authoritative']),
    `--dhcp-range=${pool[0]},${pool[pool.length - 1]},${mask},${leaseSeconds}`,
    `--dhcp-option=option:router,${u.gw4}`,
    ...(dns.length ? [`--dhcp-option=option:dns-server,${dns.join(',')}`] : []),
    ...(opts.ra
      ? ['--enable-ra', `--dhcp-range=::,constructor:${u.routerLan},ra-only,64`, `--ra-param=${u.routerLan},4,1800`]
      : []),
  ]);
  await proc.waitForLine(/DHCP, IP range/, { stream: 'both', timeoutMs: 10_000 });

  const log = (): string => proc.stdout + proc.stderr;
  const leases = (): DhcpLease[] => (existsSync(leaseFile) ? parseLeases(readFileSync(leaseFile, 'utf8')) : []);
  return {
    uplink: u.name,
    proc,
    pool,
    dns,
    leaseFile,
    leases,
    log,
    count: (pattern) =>
      log()
        .split('\n')
        .filter((l) => pattern.test(l)).length,
    waitForLog: (pattern, timeoutMs = 10_000) => proc.waitForLine(pattern, { stream: 'both', timeoutMs }),
    waitForLease: (mac, timeoutMs = 20_000) =>
      waitFor(
        `a DHCP lease${mac ? ` for ${mac}` : ''} from ${u.routerNs}`,
        () => leases().find((l) => mac === undefined || l.mac === mac),
        { timeoutMs, intervalMs: 100 },
      ),
    waitForNoLease: (mac, timeoutMs = 10_000) =>
      waitFor(
        `no DHCP lease for ${mac} at ${u.routerNs}`,
        () => (leases().some((l) => l.mac === mac) ? undefined : true),
        { timeoutMs, intervalMs: 100 },
      ).then(() => undefined),
    stop: async () => {
      await proc.kill('SIGTERM', 3000);
    },
  };
}

function prefixToMask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffff_ffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

/**
 * PIDs of udhcpc clients for `ifname` running in the sandbox's device namespace (matched on their
 * command line: an argv word ending in `udhcpc` and `-i ifname`), whoever started them.
 */
export async function dhcpClientPids(sb: Sandbox, ifname: string): Promise<number[]> {
  const { stdout } = await runCommand(['ip', 'netns', 'pids', sb.devNs]);
  return stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv.some((a) => a.endsWith('udhcpc')) && argv[argv.indexOf('-i') + 1] === ifname;
      } catch {
        return false; // exited meanwhile
      }
    });
}
