/**
 * The session record and the functions that turn it (plus its bound service) into the
 * settings an Update reports.
 */
import type { SessionSettings } from '../../lib/protocol.js';
import type { EffectiveSettings, Identity, PolicyMatch } from './policy.js';
import { ipv4Dict, ipv6Dict, type Service } from './services.js';
import type { RequestedSettings } from './settings.js';
import type { OwnPart, ServicePart } from './updates.js';

/** One session. Mutable inside the engine only. */
export interface Session {
  /** Creation order; also the owner tie-breaker in the kernel state (older wins). */
  readonly serial: number;
  /** Kernel-safe name (counters, chains). */
  readonly key: string;
  /** Mark bits (inside sessionTagMask) that tag this session's packets and connections. */
  readonly tag: number;
  readonly path: string;
  /** Unique bus name of the client that created it. */
  readonly owner: string;
  readonly notifier: string;
  readonly identity: Identity;
  /** What the client asked for; kept apart from policy so a removed policy restores it. */
  request: RequestedSettings;
  match: PolicyMatch | null;
  /** cgroupv2 paths the session claimed itself (ClaimCgroup), beside its policy's claim; released with it. */
  cgroups: readonly string[];
  effective: EffectiveSettings;
  /** Connect() was called and not undone by Disconnect(); survives Change (ConnMan forgets it). */
  active: boolean;
  /** Disconnect() was called: stays detached until Connect(), whatever services come and go. */
  held: boolean;
  serviceId: string | null;
  /** Selection group it belongs to, or null while held. */
  group: string | null;
  /** What the client has been told so far (service half; often shared by a whole group). */
  sentService: ServicePart | null;
  /** What the client has been told so far (own half). */
  sentOwn: OwnPart | null;
}

const NO_SERVICE: ServicePart = Object.freeze({
  State: 'disconnected',
  Name: '',
  IPv4: {},
  IPv6: {},
  Interface: '',
  Bearer: '',
});

/** The service half of the settings for a bound service (or none). */
export function servicePartOf(service: Service | null): ServicePart {
  if (!service) return NO_SERVICE;
  return {
    State: service.state === 'online' ? 'online' : 'connected',
    Name: service.ifname,
    IPv4: ipv4Dict(service),
    IPv6: ipv6Dict(service),
    Interface: service.ifname,
    Bearer: service.bearer,
  };
}

/** The session's own half. */
export function ownPartOf(e: EffectiveSettings): OwnPart {
  return {
    ConnectionType: e.connectionType,
    AllowedBearers: [...e.allowedBearers],
    AllowedInterface: e.allowedInterface ?? '*',
    ContextIdentifier: e.contextIdentifier,
    SourceIPRule: e.sourceIPRule,
  };
}

/** The full settings of a session right now. */
export function settingsOf(s: Session, service: Service | null): SessionSettings {
  return { ...servicePartOf(service), ...ownPartOf(s.effective) };
}

/**
 * Claims nothing the kernel state could hold (no policy identity, no cgroup, no SourceIPRule): no
 * marking, no source rule, so such a session changes nothing in the kernel until it claims.
 */
export function isInert(s: Pick<Session, 'match' | 'cgroups' | 'effective'>): boolean {
  return !s.match?.claim && s.cgroups.length === 0 && !s.effective.sourceIPRule;
}
