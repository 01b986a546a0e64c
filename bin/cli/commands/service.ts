/** One service: `services SERVICE` (any daemon); `connect`/`disconnect` and `autoconnect` (a daemon in manage mode). */
import { AlreadyConnectedError, NotConnectedReplyError, type ServiceInfo } from '../../../lib/index.js';
import { servicePath } from '../../../lib/protocol.js';
import { type Context, emit } from '../context.js';
import { EXIT } from '../errors.js';
import { formatServiceDetail, serviceLabel } from '../format.js';

/** A service the daemon does not have is a plain error (exit 1), as an unknown technology is. */
class NoSuchService extends Error {}

/**
 * The service `arg` names: its object path, its id, else the one whose interface (`Ethernet.Interface`)
 * or, failing that, `Name` is `arg`.
 */
export async function resolveService(ctx: Context, arg: string): Promise<ServiceInfo> {
  const list = await ctx.manager.services();
  const path = arg.startsWith('/') ? arg : servicePath(arg);
  const exact = list.find((s) => s.path === path);
  if (exact) return exact;
  for (const key of ['interface', 'name'] as const) {
    const hits = list.filter((s) => s[key] === arg);
    if (hits.length === 1) return hits[0]!;
    // connmand names services by SSID or `Wired`: several may share one.
    if (hits.length > 1)
      throw new NoSuchService(
        `'${arg}' names ${hits.length} services (${hits.map((s) => s.path).join(', ')}): give its path`,
      );
  }
  throw new NoSuchService(`no service '${arg}' (the daemon has ${list.map(serviceLabel).join(', ') || 'none'})`);
}

/** `services SERVICE`: one service with its addresses, gateways and online state (and nameservers where the SDK has them). */
export async function serviceDetail(ctx: Context, arg: string): Promise<number> {
  const s = await resolveService(ctx, arg);
  emit(ctx, s, () => formatServiceDetail(s));
  return EXIT.ok;
}

/** `connect`/`disconnect`: already in that state counts as success (`changed: false`), as for `enable`. */
export async function connect(ctx: Context, arg: string, on: boolean): Promise<number> {
  const s = await resolveService(ctx, arg);
  let changed = true;
  try {
    if (on) await ctx.manager.connectService(s.path);
    else await ctx.manager.disconnectService(s.path);
  } catch (err) {
    if (!(err instanceof (on ? AlreadyConnectedError : NotConnectedReplyError))) throw err;
    changed = false;
  }
  emit(
    ctx,
    { service: s.path, interface: s.interface, connected: on, changed },
    () => `${serviceLabel(s)}: ${changed ? '' : 'already '}${on ? 'connected' : 'disconnected'}`,
  );
  return EXIT.ok;
}

/** `autoconnect SERVICE on|off`: the daemon keeps the setting (it survives a restart). */
export async function autoconnect(ctx: Context, arg: string, on: boolean): Promise<number> {
  const s = await resolveService(ctx, arg);
  await ctx.manager.setServiceAutoConnect(s.path, on);
  emit(
    ctx,
    { service: s.path, interface: s.interface, autoConnect: on },
    () => `${serviceLabel(s)}: autoconnect ${on ? 'on' : 'off'}`,
  );
  return EXIT.ok;
}
