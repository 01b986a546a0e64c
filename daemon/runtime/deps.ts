/**
 * What daemon/main.ts hands the runtime: the engine and one adapter per port. Optional ports
 * switch features off (the datapath, counters, saved settings, manage mode); the runtime then
 * answers the calls that need them with NotSupported.
 */
import type { Engine } from '../core/engine.js';
import type { OnlineCheckSettings } from '../core/online-schedule.js';
import type { Family } from '../core/services.js';
import type {
  Accounting,
  BusEvents,
  CgroupDirectory,
  Clock,
  DhcpClient,
  Firewall,
  IdentityResolver,
  Ipv6Switches,
  LinkConfigurator,
  LinkSource,
  LinkStats,
  Logger,
  NameserverFile,
  OnlineCheck,
  PolicySource,
  ProvisioningSource,
  Routing,
  Store,
} from '../ports.js';

export interface RuntimeDeps {
  engine: Engine;
  events: BusEvents;
  links: LinkSource;
  identity: IdentityResolver;
  clock: Clock;
  online: { settings: OnlineCheckSettings; probe: OnlineCheck; urls: Record<Family, string> };
  /**
   * Most live sessions in the whole daemon: what its JS heap limit holds (daemon/main.ts derives
   * it from the limit); none when absent. Beyond it CreateSession fails with a clear error.
   */
  sessionCapacity?: number;
  /** Milliseconds between full read-back reconciliations; 0 = only when state changes. */
  reconcileIntervalMs?: number;
  policies?: PolicySource;
  routing?: Routing;
  firewall?: Firewall;
  accounting?: Accounting;
  /** Link statistics for ConnMan's per-service counters; without it RegisterCounter is NotSupported. */
  linkStats?: LinkStats;
  /** cgroup directories, for ClaimCgroup (which also needs the firewall); without it ClaimCgroup is NotSupported. */
  cgroups?: CgroupDirectory;
  /** Where OfflineMode, Technology.Powered and managed services' flags survive restarts (and crashes: writes are atomic). */
  store?: Store;
  /** Manage mode's adapters; used when the engine manages any interface. */
  manage?: {
    links: LinkConfigurator;
    dhcp: DhcpClient;
    ipv6?: Ipv6Switches;
    nameservers?: NameserverFile;
  };
  /**
   * Provisioning files (ConnMan `.config`): in manage mode they configure the links; in both
   * modes they give a service its nameservers (observed links), `Metered` and `Roaming`.
   */
  provisioning?: ProvisioningSource;
  log: Logger;
}
