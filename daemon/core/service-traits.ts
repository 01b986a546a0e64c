/**
 * What a service is beyond its link facts — metered, roaming, and for an observed link the
 * nameservers a provisioning file gives it — and the status dict netsessiond's extension
 * publishes for it (`org.netsession.Manager1.GetServiceStatus`). Pure.
 *
 * Metered follows Android's rule (a network is metered unless known otherwise, and cellular is
 * the one bearer assumed to bill by volume): cellular services are metered, every other bearer
 * is not, and a provisioning section's `Metered = true|false` overrides either way.
 */
import { SERVICE_STATUS_KEYS } from '../../lib/protocol.js';
import type { PropDict } from './properties.js';
import type { ProvisionedService } from './provisioning-parse.js';
import { isConnected, type Service } from './services.js';

/** The traits a service gets from its bearer and its provisioning section (or none). */
export function traitsOf(
  s: Pick<Service, 'bearer'>,
  section: ProvisionedService | null,
): { metered: boolean; roaming: boolean } {
  return { metered: section?.metered ?? s.bearer === 'cellular', roaming: section?.roaming ?? false };
}

/**
 * Applies the traits to `s`; true when one changed (the caller re-selects: an `AvoidMetered`
 * session may have to move).
 */
export function applyTraits(s: Service, section: ProvisionedService | null): boolean {
  const t = traitsOf(s, section);
  if (t.metered === s.metered && t.roaming === s.roaming) return false;
  s.metered = t.metered;
  s.roaming = t.roaming;
  return true;
}

/** The captive portal's URL the online check met (IPv4's first), or null. */
export function portalOf(s: Pick<Service, 'check'>): string | null {
  return s.check[4].portal ?? s.check[6].portal ?? null;
}

/** The service's status dict ({@link SERVICE_STATUS_KEYS}). */
export function serviceStatusProps(s: Service): PropDict {
  const K = SERVICE_STATUS_KEYS;
  const portal = portalOf(s);
  return {
    [K.metered]: { signature: 'b', value: s.metered },
    [K.roaming]: { signature: 'b', value: s.roaming },
    [K.captivePortal]: { signature: 'b', value: portal !== null },
    [K.portalUrl]: { signature: 's', value: portal ?? '' },
  };
}

/**
 * An observed link's `Nameservers` / `Nameservers.Configuration`: another tool configures it, so
 * the servers come from its provisioning section (in use only while the service is connected,
 * as ConnMan reports them). Without a section, or one without servers, the properties stay as
 * they are (the link facts' servers).
 */
export function withObservedNameservers(props: PropDict, s: Service, section: ProvisionedService | null): PropDict {
  if (!section || section.nameservers.length === 0) return props;
  return {
    ...props,
    Nameservers: { signature: 'as', value: isConnected(s.state) ? [...section.nameservers] : [] },
    'Nameservers.Configuration': { signature: 'as', value: [...section.nameservers] },
  };
}
