/** Builders for link facts in unit tests (pure data, no kernel). */

import type { Identity } from '../../daemon/core/policy.js';
import type { AddressFact, LinkFacts } from '../../daemon/core/services.js';
import type { RawValue } from '../../daemon/core/settings.js';
import type { Bearer } from '../../lib/protocol.js';

/** A connected uplink with a v4 address (and optionally v6) and a default gateway. */
export function uplink(
  ifindex: number,
  name: string,
  bearer: Bearer,
  opts: Partial<LinkFacts> & { v4?: string | null; v6?: string | null } = {},
): LinkFacts {
  const v4 = opts.v4 === undefined ? `198.51.100.${ifindex * 4 + 2}` : opts.v4;
  const v6 = opts.v6 === undefined ? null : opts.v6;
  const addresses: AddressFact[] = [];
  if (v4) addresses.push({ family: 4, address: v4, prefixLength: 30, method: 'manual', scope: 'global' });
  if (v6) addresses.push({ family: 6, address: v6, prefixLength: 64, method: 'auto', scope: 'global' });
  const gateways = [];
  if (v4)
    gateways.push({
      family: 4 as const,
      gateway: v4.replace(/\.\d+$/, (m) => `.${Number(m.slice(1)) - 1}`),
      metric: 100 * ifindex,
    });
  if (v6) gateways.push({ family: 6 as const, gateway: 'fe80::1', metric: 100 * ifindex });
  const { v4: _a, v6: _b, ...rest } = opts;
  return {
    ifindex,
    name,
    kind: 'veth',
    mac: `02:00:00:00:${((ifindex >> 8) & 0xff).toString(16).padStart(2, '0')}:${(ifindex & 0xff).toString(16).padStart(2, '0')}`,
    bearer,
    adminUp: true,
    carrier: true,
    mtu: 1500,
    addresses,
    gateways,
    nameservers: [],
    ...rest,
  };
}

/** D-Bus-like raw values. */
export const as = (v: string[]): RawValue => ({ signature: 'as', value: v });
export const str = (v: string): RawValue => ({ signature: 's', value: v });
export const bool = (v: boolean): RawValue => ({ signature: 'b', value: v });

export const ROOT: Identity = { uid: 0, user: 'root', groups: [{ gid: 0, name: 'root' }] };
export const alice: Identity = {
  uid: 1001,
  user: 'alice',
  groups: [
    { gid: 1001, name: 'alice' },
    { gid: 2000, name: 'staff' },
  ],
};
