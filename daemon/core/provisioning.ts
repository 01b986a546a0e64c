/**
 * Which provisioning section configures a link (ConnMan's matching rules, made deterministic),
 * and the addressing a matched section asks for, as plain data. Files are parsed by
 * provisioning-parse.ts.
 */
import type { Bearer } from '../../lib/protocol.js';
import type { IPv6Privacy, ProvisionedService } from './provisioning-parse.js';
import type { Family } from './services.js';

/** What a matched section asks the link's addressing to be: plain data for an adapter. */
export interface DesiredAddressing {
  /** Static addresses to add (none for dhcp/auto/off). */
  addresses: Array<{ family: Family; address: string; prefixLength: number }>;
  /** Static default-route gateways, at most one per family. */
  gateways: Array<{ family: Family; gateway: string }>;
  /** Run a DHCPv4 client on the link. */
  dhcpv4: boolean;
  /** False when `IPv6 = off`: IPv6 is to be disabled on the link altogether. */
  ipv6: boolean;
  /** Accept router advertisements and autoconfigure (true only for `IPv6 = auto`). */
  slaac: boolean;
  /** null: leave the kernel's setting alone. */
  ipv6Privacy: IPv6Privacy | null;
  /** Static nameservers; empty means "use what DHCP/RA provide". */
  nameservers: string[];
  searchDomains: string[];
  domain: string | null;
}

/** The link facts matching needs. */
export interface ProvisioningLink {
  name: string;
  /** `aa:bb:cc:dd:ee:ff`, or '' when the link has none. */
  mac: string;
  bearer: Bearer | null;
}

/** How specific a section's selector is: MAC and DeviceName (3) > MAC (2) > DeviceName (1) > Type only (0). */
function specificity(s: ProvisionedService): number {
  return (s.mac !== null ? 2 : 0) + (s.deviceName !== null ? 1 : 0);
}

function matches(s: ProvisionedService, link: ProvisioningLink, observed: boolean): boolean {
  // An observed link is configured by another tool: a Wi-Fi section that names it (MAC or
  // DeviceName) still tells its nameservers, metered and roaming.
  const usable = s.supported || (observed && (s.mac !== null || s.deviceName !== null));
  if (!usable || link.bearer === null || s.type !== link.bearer) return false;
  if (s.mac !== null && s.mac !== link.mac.toLowerCase()) return false;
  if (s.deviceName !== null && s.deviceName !== link.name) return false;
  return true;
}

/**
 * The section that provisions `link`, or null. A section applies when its Type equals the link's
 * bearer (a link of unknown bearer matches nothing) and every selector it has (MAC, DeviceName)
 * matches. Among applicable sections the most specific wins (MAC+DeviceName, then MAC, then
 * DeviceName, then Type alone); on a tie the later one wins, ordering by file name (code-unit
 * order) and then by position in the file. The input order does not matter.
 */
export function matchProvisioned(
  services: readonly ProvisionedService[],
  link: ProvisioningLink,
  observed = false,
): ProvisionedService | null {
  let best: ProvisionedService | null = null;
  for (const s of services) {
    if (!matches(s, link, observed)) continue;
    if (best === null) {
      best = s;
      continue;
    }
    const bySpecificity = specificity(s) - specificity(best);
    const byOrder = s.file === best.file ? s.index - best.index : s.file > best.file ? 1 : -1;
    if (bySpecificity > 0 || (bySpecificity === 0 && byOrder > 0)) best = s;
  }
  return best;
}

/** The addressing a section asks for, as plain data (nothing is applied here). */
export function desiredAddressing(p: ProvisionedService): DesiredAddressing {
  const addresses: DesiredAddressing['addresses'] = [];
  const gateways: DesiredAddressing['gateways'] = [];
  if (p.ipv4.method === 'manual') {
    addresses.push({ family: 4, address: p.ipv4.address, prefixLength: p.ipv4.prefixLength });
    if (p.ipv4.gateway !== null) gateways.push({ family: 4, gateway: p.ipv4.gateway });
  }
  if (p.ipv6.method === 'manual') {
    addresses.push({ family: 6, address: p.ipv6.address, prefixLength: p.ipv6.prefixLength });
    if (p.ipv6.gateway !== null) gateways.push({ family: 6, gateway: p.ipv6.gateway });
  }
  return {
    addresses,
    gateways,
    dhcpv4: p.ipv4.method === 'dhcp',
    ipv6: p.ipv6.method !== 'off',
    slaac: p.ipv6.method === 'auto',
    ipv6Privacy: p.ipv6Privacy,
    nameservers: [...p.nameservers],
    searchDomains: [...p.searchDomains],
    domain: p.domain,
  };
}
