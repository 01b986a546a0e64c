/**
 * Builds the namespaces, veth pairs, addresses and routes of a {@link TopologyPlan}.
 *
 * Every veth pair is created from inside one of our namespaces with its peer placed directly in
 * another (`ip -n A link add x type veth peer name y netns B`), so the root namespace never holds
 * either end. sysctls are only ever written inside our namespaces.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './exec.js';
import type { TopologyPlan, Uplink } from './plan.js';

/** Runs `ip -n ns -batch file` with the given lines (one ip command each, without `ip`). */
export async function ipBatch(tmpDir: string, ns: string, tag: string, lines: readonly string[]): Promise<void> {
  // A file rather than stdin: some tools open /dev/stdin, which fails on Node's socketpair stdio.
  const file = join(tmpDir, `${ns}.${tag}.ip`);
  await writeFile(file, `${lines.join('\n')}\n`);
  await runCommand(['ip', '-n', ns, '-batch', file]);
}

/** Writes sysctls inside namespace `ns`. */
export async function nsSysctl(ns: string, settings: Record<string, string | number>): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  await runCommand(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...args]);
}

/** IPv6 without duplicate address detection, so addresses are usable the moment they are added. */
const NO_DAD = { 'net.ipv6.conf.all.accept_dad': 0, 'net.ipv6.conf.default.accept_dad': 0 };

/** rp_filter is inherited from the host's settings in a new namespace; pin it so runs agree. */
function rpFilter(mode: 0 | 2): Record<string, number> {
  return { 'net.ipv4.conf.all.rp_filter': mode, 'net.ipv4.conf.default.rp_filter': mode };
}

/** The `ip` commands (in the device namespace) that give an uplink its addresses. */
export function devAddressCommands(u: Uplink): string[] {
  const lines = [`address replace ${u.devAddr4}/${u.prefix4} dev ${u.ifname}`];
  if (u.devAddr6) lines.push(`address replace ${u.devAddr6}/${u.prefix6} dev ${u.ifname} nodad`);
  return lines;
}

/** The `ip` commands (in the device namespace) for an uplink's main-table default routes. */
export function devRouteCommands(u: Uplink): string[] {
  const lines = [`route replace default via ${u.gw4} dev ${u.ifname} metric ${u.metric}`];
  if (u.gw6) lines.push(`route replace ::/0 via ${u.gw6} dev ${u.ifname} metric ${u.metric}`);
  return lines;
}

/**
 * Creates every namespace of the plan and wires them up. On failure the caller deletes whatever
 * namespaces exist (they all carry the sandbox id).
 */
export async function buildTopology(plan: TopologyPlan, tmpDir: string, createdNs: string[]): Promise<void> {
  const { devNs, inetNs, uplinks } = plan;
  for (const ns of [devNs, ...uplinks.map((u) => u.routerNs), inetNs]) {
    await runCommand(['ip', 'netns', 'add', ns]);
    createdNs.push(ns);
  }

  // Defaults must be in place before the links exist: new interfaces copy `default`.
  await nsSysctl(devNs, {
    ...NO_DAD,
    ...rpFilter(2),
    // A device-side admin down must not lose the v6 addresses (setAdmin restores routes only).
    'net.ipv6.conf.all.keep_addr_on_down': 1,
    'net.ipv6.conf.default.keep_addr_on_down': 1,
  });
  for (const u of uplinks) {
    await nsSysctl(u.routerNs, {
      ...NO_DAD,
      ...rpFilter(0),
      'net.ipv4.ip_forward': 1,
      'net.ipv6.conf.all.forwarding': 1,
      // setCarrier takes the router's lan side admin-down: without this its IPv6 gateway address
      // would be flushed and never come back (IPv4 addresses survive a down/up by themselves).
      'net.ipv6.conf.all.keep_addr_on_down': 1,
      'net.ipv6.conf.default.keep_addr_on_down': 1,
    });
  }
  await nsSysctl(inetNs, { ...NO_DAD, ...rpFilter(0) });

  // Fixed, pairwise-different ifindexes: a veth whose ifindex equals its peer's gets its carrier
  // events rate-limited by the kernel's linkwatch (hundreds of ms late).
  await ipBatch(tmpDir, devNs, 'links', [
    'link set lo up',
    ...uplinks.map(
      (u) =>
        `link add ${u.ifname} index ${u.ifindex} address ${u.mac} type veth ` +
        `peer name ${u.routerLan} index 20 address 02:00:00:00:01:${hex2(u.k)} netns ${u.routerNs}`,
    ),
  ]);

  for (const u of uplinks) {
    await ipBatch(tmpDir, u.routerNs, 'links', [
      'link set lo up',
      `link add ${u.routerWan} index 30 address 02:00:00:00:02:${hex2(u.k)} type veth ` +
        `peer name ${u.inetIfname} index ${40 + u.k} address 02:00:00:00:03:${hex2(u.k)} netns ${inetNs}`,
      `address add ${u.gw4}/${u.prefix4} dev ${u.routerLan}`,
      ...(u.gw6 ? [`address add ${u.gw6}/${u.prefix6} dev ${u.routerLan} nodad`] : []),
      `address add ${u.wanRouter4}/30 dev ${u.routerWan}`,
      `address add ${u.wanRouter6}/64 dev ${u.routerWan} nodad`,
      `link set ${u.routerLan} up`,
      `link set ${u.routerWan} up`,
      `route add default via ${u.wanInet4} dev ${u.routerWan}`,
      `route add ::/0 via ${u.wanInet6} dev ${u.routerWan}`,
    ]);
  }

  await ipBatch(tmpDir, inetNs, 'links', [
    'link set lo up',
    `address add ${plan.inet.addr4}/32 dev lo`,
    `address add ${plan.inet.addr6}/128 dev lo nodad`,
    ...uplinks.flatMap((u) => [
      `address add ${u.wanInet4}/30 dev ${u.inetIfname}`,
      `address add ${u.wanInet6}/64 dev ${u.inetIfname} nodad`,
      `link set ${u.inetIfname} up`,
      `route add ${u.subnet4} via ${u.wanRouter4} dev ${u.inetIfname}`,
      ...(u.subnet6 ? [`route add ${u.subnet6} via ${u.wanRouter6} dev ${u.inetIfname}`] : []),
    ]),
  ]);

  await ipBatch(tmpDir, devNs, 'addrs', [
    ...uplinks.flatMap((u) => [...devAddressCommands(u), `link set ${u.ifname} up`]),
    ...uplinks.flatMap(devRouteCommands),
  ]);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
