/**
 * A DNS server (dnsmasq, DNS only) in an uplink's router namespace, on the router's address on
 * that uplink: the uplink's own DNS, as a carrier's or a site's. It answers the names it is given
 * and refuses every other (no upstream), so a name it knows resolves only through it.
 *
 * ```ts
 * const dns = await startDnsServer(sb, 'eth-c', { 'only-cell.test': sb.inet.addr4 });
 * dns.queries();   // names asked so far, with the client address
 * await dns.stop();
 * ```
 */
import type { SandboxProcess } from './exec.js';
import type { Sandbox } from './sandbox.js';

/** A running dnsmasq; stopped by `stop()` or by the sandbox's destroy. */
export interface DnsServer {
  readonly uplink: string;
  /** The address it listens on (the router's IPv4 address on the uplink). */
  readonly address: string;
  readonly proc: SandboxProcess;
  /** Queries logged so far: the name and the client's address. */
  queries(): Array<{ name: string; client: string }>;
  stop(): Promise<void>;
}

/** Starts dnsmasq on `uplinkName`'s router, answering `records` (name -> IPv4 address). */
export async function startDnsServer(
  sb: Sandbox,
  uplinkName: string,
  records: Record<string, string>,
): Promise<DnsServer> {
  const u = sb.uplink(uplinkName);
  const proc = sb.spawn(u.routerNs, [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--user=root',
    '--group=root',
    '--pid-file=',
    '--no-resolv',
    '--no-hosts',
    '--log-queries',
    '--log-facility=-',
    `--listen-address=${u.gw4}`,
    '--bind-interfaces',
    ...Object.entries(records).map(([name, addr]) => `--address=/${name}/${addr}`),
  ]);
  await proc.waitForLine(/started, version/, { stream: 'both', timeoutMs: 10_000 });
  return {
    uplink: u.name,
    address: u.gw4,
    proc,
    queries: () =>
      [...(proc.stdout + proc.stderr).matchAll(/query\[[A-Z]+\] (\S+) from (\S+)/g)].map((m) => ({
        name: m[1]!,
        client: m[2]!,
      })),
    stop: async () => {
      await proc.kill('SIGTERM', 3000);
    },
  };
}
