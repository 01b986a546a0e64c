/**
 * The rtnetlink requests of link configuration (link-config.ts): admin state, addresses and
 * main-table default routes as messages, the dump of the main table's defaults, and one request
 * whose failure is an outcome rather than an exception. Never keeps a socket of its own.
 */
import type { RtnlClient, RtRequest } from './client.js';
import type { DefaultOp, KernelAddress, LinkOp } from './link-config-plan.js';
import { addressBytes, afOf, familyOf, formatAddress } from './messages/addresses.js';
import { type AddressMessage, type Attrs, u8Of } from './messages/codec.js';
import {
  IFA,
  IFF,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_TABLE_MAIN,
  RTM,
  RTPROT_NETSESSION,
} from './messages/constants.js';
import { addRouteMessage, decodeTableRoute, delRouteMessage, type KernelRoute } from './routes.js';

export function decodeKernelAddress(m: AddressMessage): KernelAddress | null {
  const family = familyOf(m.family);
  if (!family) return null;
  // IPv4: IFA_LOCAL is the interface's address (IFA_ADDRESS is the peer on point-to-point links).
  const address = formatAddress(
    family,
    family === 4 ? (m.attrs.get(IFA.LOCAL) ?? m.attrs.get(IFA.ADDRESS)) : m.attrs.get(IFA.ADDRESS),
  );
  if (address === '') return null;
  return { family, address, prefixLength: m.prefixLen, ifindex: m.index, proto: u8Of(m.attrs, IFA.PROTO) ?? 0 };
}

export function describeLinkOp(o: LinkOp): string {
  if (o.op === 'up' || o.op === 'down') return `link set #${o.ifindex} ${o.op}`;
  if (o.op === 'add-addr') return `addr add ${o.addr.address}/${o.addr.prefixLength} dev #${o.ifindex}`;
  return `addr del ${o.addr.address}/${o.addr.prefixLength} dev #${o.addr.ifindex}`;
}

/** The request of a link or address operation. */
export function linkRequest(o: LinkOp): RtRequest {
  if (o.op === 'up' || o.op === 'down') {
    return {
      type: RTM.SETLINK,
      flags: 0,
      msg: {
        kind: 'link',
        family: 0,
        type: 0,
        index: o.ifindex,
        flags: o.op === 'up' ? IFF.UP : 0,
        change: IFF.UP,
        attrs: new Map(),
      },
    };
  }
  const a = o.addr;
  const bytes = addressBytes(a.family, a.address) ?? Buffer.alloc(0);
  const attrs: Attrs = new Map([
    [IFA.LOCAL, bytes],
    [IFA.ADDRESS, bytes],
  ]);
  const ifindex = o.op === 'add-addr' ? o.ifindex : o.addr.ifindex;
  if (o.op === 'add-addr') attrs.set(IFA.PROTO, Buffer.from([RTPROT_NETSESSION]));
  const msg: AddressMessage = {
    kind: 'address',
    family: afOf(a.family),
    prefixLen: a.prefixLength,
    flags: 0,
    scope: 0,
    index: ifindex,
    attrs,
  };
  return o.op === 'add-addr'
    ? { type: RTM.NEWADDR, flags: NLM_F_CREATE | NLM_F_EXCL, msg }
    : { type: RTM.DELADDR, flags: 0, msg };
}

/** The request of a default-route operation. */
export function defaultRequest(o: DefaultOp): RtRequest {
  if (o.op === 'del') return { type: RTM.DELROUTE, flags: 0, msg: delRouteMessage(o.route) };
  return {
    type: RTM.NEWROUTE,
    flags: NLM_F_CREATE | (o.op === 'replace' ? NLM_F_REPLACE : NLM_F_EXCL),
    msg: addRouteMessage(o.route, 'always'),
  };
}

/** Main-table default routes of a dump. */
export function dumpDefaults(client: RtnlClient): KernelRoute[] {
  const out: KernelRoute[] = [];
  for (const m of client.dump('route')) {
    const r = m.kind === 'route' ? decodeTableRoute(m) : null;
    if (r && r.table === RT_TABLE_MAIN && r.dstLen === 0) out.push(r);
  }
  return out;
}

/** One request whose failure is an outcome, not an exception. */
export function requestOne(client: RtnlClient, req: RtRequest): Error | null {
  try {
    return client.request([req])[0] ?? null;
  } catch (err) {
    return err as Error;
  }
}
