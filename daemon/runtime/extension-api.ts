/**
 * The calls of the project's own D-Bus interfaces (`org.netsession.Manager1`, `Service1`,
 * `Session1`): what ConnMan has no method for. Functions over the runtime's parts; the DaemonApi
 * facade (daemon-api.ts) exposes them beside ConnMan's calls.
 */
import type { BusCaller, SessionStatistics } from '../api.js';
import { NotOwnerError, NotSupportedError, RootOnlyError } from '../core/errors.js';
import type { PropDict } from '../core/properties.js';
import { settingProp } from '../core/properties.js';
import { type EffectsCarrier, engineCaller } from './effects-carrier.js';

const ZERO = Object.freeze({ rxBytes: 0n, txBytes: 0n, rxPackets: 0n, txPackets: 0n });

const NO_DATAPATH = 'per-session statistics need the kernel datapath (not configured)';

/** The session at `path`, if the caller owns it (or is root). */
function owned(rt: EffectsCarrier, caller: BusCaller, path: string) {
  const s = rt.engine.session(path);
  if (caller.uid !== 0 && caller.sender !== s.owner) throw new NotOwnerError(path);
  return s;
}

/** `ListSessions()`: every session with owner, uid, settings, bound service and byte counts; root only. */
export async function listSessions(
  rt: EffectsCarrier,
  caller: BusCaller,
): Promise<Array<{ path: string; props: PropDict }>> {
  if (caller.uid !== 0) throw new RootOnlyError('list all sessions');
  const counters = rt.d.accounting ? await rt.d.accounting.read() : null;
  return rt.engine.sessions().map((s) => {
    const settings: PropDict = {};
    for (const [k, v] of Object.entries(s.settings)) settings[k] = settingProp(k as keyof typeof s.settings, v);
    const props: PropDict = {
      Owner: { signature: 's', value: s.owner },
      UID: { signature: 'u', value: s.uid },
      Service: { signature: 's', value: s.serviceId ?? '' },
      PolicyGroup: { signature: 's', value: s.policyGroup ?? '' },
      Active: { signature: 'b', value: s.active },
      Cgroups: { signature: 'as', value: [...s.cgroups] },
      Settings: { signature: 'a{sv}', value: settings },
    };
    if (counters) {
      // A session that claims nothing has no counters in the kernel: nothing can be counted for it.
      const c = counters.get(s.key) ?? ZERO;
      props['RX.Bytes'] = { signature: 't', value: c.rxBytes };
      props['TX.Bytes'] = { signature: 't', value: c.txBytes };
    }
    return { path: s.path, props };
  });
}

export async function statistics(rt: EffectsCarrier, caller: BusCaller, path: string): Promise<SessionStatistics> {
  const s = owned(rt, caller, path);
  if (!rt.d.accounting) throw new NotSupportedError(NO_DATAPATH);
  // Absent: the session claims nothing, so the kernel holds no counter for it (or not yet).
  return (await rt.d.accounting.read([s.key])).get(s.key) ?? { ...ZERO };
}

export async function resetStatistics(rt: EffectsCarrier, caller: BusCaller, path: string): Promise<void> {
  const s = owned(rt, caller, path);
  if (!rt.d.accounting) throw new NotSupportedError(NO_DATAPATH);
  await rt.d.accounting.reset([s.key]);
}

export function setStatisticsInterval(rt: EffectsCarrier, caller: BusCaller, path: string, seconds: number): void {
  const s = owned(rt, caller, path);
  if (!rt.statsSignals) throw new NotSupportedError(NO_DATAPATH);
  rt.statsSignals.set(path, s.key, caller.sender, seconds);
}

/** `ClaimCgroup(s)`: resolves once the kernel classifies the cgroup's traffic. */
export async function claimCgroup(rt: EffectsCarrier, caller: BusCaller, path: string, cgroup: string): Promise<void> {
  if (!rt.d.firewall || !rt.d.cgroups)
    throw new NotSupportedError('claiming cgroups needs the kernel datapath (not configured)');
  // Path and ownership first: the filesystem is looked at only for a well-formed request.
  rt.engine.checkCgroupClaim(path, engineCaller(caller), cgroup);
  const dirOwner = await rt.d.cgroups.ownerOf(cgroup);
  // The session may have ended meanwhile: the engine checks it again.
  rt.apply(rt.engine.claimCgroup(path, engineCaller(caller), cgroup, dirOwner));
  await rt.kernel.settled();
}

/** `GetDefaultRoutes()`: the gateway lifecycle of managed links' default routes. */
export function defaultRoutes(rt: EffectsCarrier): PropDict[] {
  const links = rt.manage ? rt.d.manage?.links : undefined;
  if (!links) return [];
  const names = new Map(rt.engine.services().map((s) => [s.ifindex, s.ifname]));
  return links.lifecycle().map((r) => ({
    Interface: { signature: 's', value: names.get(r.ifindex) ?? `#${r.ifindex}` },
    Family: { signature: 'y', value: r.family },
    Gateway: { signature: 's', value: r.gateway ?? '' },
    Metric: { signature: 'u', value: r.metric },
    State: { signature: 's', value: r.state },
  }));
}

/** `GetPolicy()`: `{ Group: 'file:group' | '' }`. */
export function sessionPolicy(rt: EffectsCarrier, caller: BusCaller, path: string): PropDict {
  const s = owned(rt, caller, path);
  return { Group: { signature: 's', value: s.match ? `${s.match.group.file}:${s.match.group.name}` : '' } };
}

/** What this daemon offers beyond ConnMan, as the SDK asks for it. */
export function capabilities(rt: EffectsCarrier): string[] {
  const caps = ['ListSessions', 'PerServiceOnlineCheck', 'CgroupPolicy', 'Policy', 'ServiceStatus', 'AvoidMetered'];
  if (rt.manage) caps.push('ManageMode');
  if (rt.d.accounting) caps.push('Statistics', 'StatisticsSignal');
  if (rt.d.routing || rt.d.firewall) caps.push('Datapath');
  if (rt.d.firewall && rt.d.cgroups) caps.push('ClaimCgroup');
  return caps;
}
