/**
 * Service properties of a managed service, as ConnMan reports a provisioned one: `Immutable` when
 * a provisioning file configures it (ConnMan refuses changes to those too), and the
 * `*.Configuration` keys from what the daemon applies, so `connmanctl services <id>` shows
 * where the settings came from. Overlays {@link serviceProps}; observed services keep theirs.
 */
import type { PropDict } from './properties.js';
import type { DesiredAddressing } from './provisioning.js';
import type { ProvisionedService } from './provisioning-parse.js';
import { netmaskOf } from './services.js';

const str = (value: string) => ({ signature: 's', value });
const list = (value: readonly string[]) => ({ signature: 'as', value: [...value] });

/** What the overlay needs: the matched section (or null: ConnMan defaults) and its addressing. */
export interface ManagedConfigView {
  section: ProvisionedService | null;
  addressing: DesiredAddressing;
  /** Nameservers in use while connected (provisioned ones, else the lease's); empty otherwise. */
  nameservers: readonly string[];
}

export function managedServiceProps(base: PropDict, v: ManagedConfigView): PropDict {
  const sec = v.section;
  const ipv4: PropDict = {};
  if (sec?.ipv4.method === 'manual') {
    Object.assign(ipv4, {
      Method: str('manual'),
      Address: str(sec.ipv4.address),
      Netmask: str(netmaskOf(sec.ipv4.prefixLength)),
    });
    if (sec.ipv4.gateway) ipv4.Gateway = str(sec.ipv4.gateway);
  } else {
    ipv4.Method = str(sec?.ipv4.method ?? 'dhcp');
  }
  const ipv6: PropDict = {};
  if (sec?.ipv6.method === 'manual') {
    Object.assign(ipv6, {
      Method: str('manual'),
      Address: str(sec.ipv6.address),
      PrefixLength: { signature: 'y', value: sec.ipv6.prefixLength },
    });
    if (sec.ipv6.gateway) ipv6.Gateway = str(sec.ipv6.gateway);
  } else {
    ipv6.Method = str(sec?.ipv6.method ?? 'auto');
  }
  ipv6.Privacy = str(sec?.ipv6Privacy ?? 'disabled');
  const domains = [...v.addressing.searchDomains, ...(v.addressing.domain ? [v.addressing.domain] : [])];
  return {
    ...base,
    Immutable: { signature: 'b', value: sec !== null },
    'IPv4.Configuration': { signature: 'a{sv}', value: ipv4 },
    'IPv6.Configuration': { signature: 'a{sv}', value: ipv6 },
    Nameservers: list(v.nameservers),
    'Nameservers.Configuration': list(v.addressing.nameservers),
    'Timeservers.Configuration': list(sec?.timeservers ?? []),
    Domains: list(domains),
    'Domains.Configuration': list(v.addressing.searchDomains),
  };
}
