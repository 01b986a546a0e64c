/**
 * Carries out the engine's manage plan (see core/manage.ts) on the managed links, one pass at a
 * time; requests made during a pass coalesce into one more pass.
 *
 * Order inside a pass, and why:
 * 1. DHCP clients no longer wanted are stopped and awaited first: their RELEASE must leave while
 *    the leased address is still on the link.
 * 2. IPv6 switched on where wanted: a static IPv6 address cannot be added while IPv6 is off.
 * 3. Main-table default routes, before anything else changes: on a failover the next uplink is
 *    promoted first (measured: 2–4 ms earlier than after the address work). Routes whose next
 *    hop is not reachable yet (addresses still to come) are skipped by the adapter. An unforced
 *    pass whose only new routes are on links it re-addresses (a new lease) skips this step: it
 *    could only skip those routes, and step 5 adds them.
 * 4. Admin state and addresses; then new DHCP clients, once their link is up. A link the last
 *    pass already left up (its carrier came back) gets its client before step 3: its request is
 *    on the wire while the routes and addresses are worked on (measured: ~1 ms earlier).
 * 5. Default routes again if step 3 skipped any; each new route is awaited until the kernel
 *    confirms it (the gateway lifecycle of the seed RFC).
 * 6. IPv6 switched off where not wanted, and the nameserver file.
 *
 * A pass whose plan equals the last applied one is skipped, unless it is forced (link events and
 * the periodic reconcile force: the kernel may have dropped routes on its own) or the last pass
 * left something undone, which is then retried after {@link RETRY_MS}, doubling up to
 * {@link MAX_RETRY_MS} while it keeps failing.
 */
import type { DhcpLeaseEvent, ManagePlan } from '../core/manage-plan.js';
import type {
  Clock,
  DefaultRoute,
  DhcpClient,
  Ipv6Switches,
  LinkConfigurator,
  Logger,
  NameserverFile,
} from '../ports.js';
import { DhcpClients } from './dhcp-clients.js';

/** Delay before a pass that left work undone is tried again; doubled while it keeps failing. */
export const RETRY_MS = 1000;
/** Longest delay between retries (a link-config error that persists is logged at most this often). */
export const MAX_RETRY_MS = 30_000;
/** How long a pass waits for the kernel to confirm a new default route. */
export const ACTIVE_TIMEOUT_MS = 3000;

export interface ManageSyncDeps {
  plan: () => ManagePlan;
  links: LinkConfigurator;
  dhcp: DhcpClient;
  ipv6?: Ipv6Switches;
  nameservers?: NameserverFile;
  /** A lease event, or the lease-expiry timer firing (type `expire`). */
  onLease: (ifname: string, e: DhcpLeaseEvent) => void;
  clock: Clock;
  log: Logger;
}

const routeKey = (r: DefaultRoute): string => `${r.family} ${r.gateway ?? '-'} #${r.ifindex} ${r.metric}`;

export class ManageSync {
  readonly #d: ManageSyncDeps;
  readonly #dhcp: DhcpClients;
  /** The previous pass's default routes (keys) and addresses per ifindex; trusted only when it was clean. */
  #prevDefaults = new Set<string>();
  #prevAddresses = new Map<number, string>();
  /** Links the last link configuration left admin-up. */
  #upApplied = new Set<number>();
  /** IPv6 switches last written per `ifindex ifname`, as `ipv6 slaac`. */
  readonly #ipv6Set = new Map<string, string>();
  #active = new Set<string>();
  #last = '';
  #clean = false;
  #wanted = false;
  #force = false;
  #running: Promise<void> | null = null;
  #retry: { cancel(): void } | null = null;
  #retryMs = RETRY_MS;
  #stopped = false;

  constructor(deps: ManageSyncDeps) {
    this.#d = deps;
    this.#dhcp = new DhcpClients({ client: deps.dhcp, onLease: deps.onLease, clock: deps.clock, log: deps.log });
  }

  /** Asks for a pass; `force` re-applies even an unchanged plan. */
  request(force = false): void {
    if (this.#stopped) return;
    this.#wanted = true;
    this.#force ||= force;
    if (this.#running) return;
    this.#running = this.#loop().finally(() => {
      this.#running = null;
      // Asked again after the loop's last look: go on.
      if (this.#wanted) this.request();
    });
  }

  /** Resolves once no pass is running or pending. */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /**
   * Stops every DHCP client (each sends its RELEASE), then removes what the daemon configured:
   * its addresses and default routes. Admin state is left as it is.
   */
  async stop(managed: readonly number[]): Promise<void> {
    this.#stopped = true;
    this.#retry?.cancel();
    await this.settled();
    await this.#dhcp.stopAll();
    try {
      await this.#d.links.applyMainDefaults([], managed);
      const plan = this.#d.plan();
      await this.#d.links.applyLinkConfig(
        plan.links.map((l) => ({ ifindex: l.ifindex, up: l.adminUp, addresses: [] })),
      );
    } catch (err) {
      this.#d.log('warn', `manage: cleanup at stop incomplete: ${(err as Error).message}`);
    }
  }

  async #loop(): Promise<void> {
    // Requests made in the same turn (an engine result, then a link event's forced one) coalesce.
    await Promise.resolve();
    while (this.#wanted && !this.#stopped) {
      this.#wanted = false;
      const force = this.#force;
      this.#force = false;
      const plan = this.#d.plan();
      const fingerprint = JSON.stringify(plan);
      if (!force && this.#clean && fingerprint === this.#last) continue;
      this.#clean = await this.#pass(plan, force);
      this.#last = fingerprint;
      if (this.#clean) {
        this.#retryMs = RETRY_MS;
      } else if (!this.#retry) {
        const ms = this.#retryMs;
        this.#retryMs = Math.min(ms * 2, MAX_RETRY_MS);
        this.#retry = this.#d.clock.setTimeout(() => {
          this.#retry = null;
          this.request(true);
        }, ms);
      }
    }
  }

  /** One pass; true when everything was applied. */
  async #pass(plan: ManagePlan, force: boolean): Promise<boolean> {
    const { links, ipv6, nameservers, log } = this.#d;
    let clean = true;
    const fail = (what: string, err: unknown): void => {
      clean = false;
      log('warn', `manage: ${what}: ${(err as Error).message}`);
    };

    const wantDhcp = new Set(plan.links.filter((l) => l.dhcp).map((l) => l.ifname));
    for (const ifname of this.#dhcp.running()) {
      if (wantDhcp.has(ifname)) continue;
      // Without carrier a RELEASE cannot arrive: the client keeps the lease to ask for it again.
      const release = plan.links.find((l) => l.ifname === ifname)?.carrier !== false;
      await this.#dhcp.stop(ifname, { release }).catch((err: unknown) => fail(`stopping DHCP on ${ifname}`, err));
    }

    // The kernel never flips these switches itself, and a re-created link has another ifindex:
    // what was written for this ifindex and name still holds, so it is not read back (three
    // sysctl reads per link on the thread pool) on every pass.
    const present = new Set(plan.links.map((l) => `${l.ifindex} ${l.ifname}`));
    for (const key of this.#ipv6Set.keys()) if (!present.has(key)) this.#ipv6Set.delete(key);
    const switchIpv6 = async (on: boolean): Promise<void> => {
      if (!ipv6) return;
      for (const l of plan.links) {
        if (l.ipv6 !== on) continue;
        const key = `${l.ifindex} ${l.ifname}`;
        const want = `${l.ipv6} ${l.slaac}`;
        if (this.#ipv6Set.get(key) === want) continue;
        this.#ipv6Set.delete(key);
        await ipv6.set(l.ifname, l.ipv6, l.slaac).then(
          () => void this.#ipv6Set.set(key, want),
          (err: unknown) => fail(`IPv6 switches of ${l.ifname}`, err),
        );
      }
    };
    await switchIpv6(true);

    const startDhcp = (upOnly: boolean): void => {
      for (const l of plan.links) {
        if (!l.dhcp || this.#dhcp.has(l.ifname) || (upOnly && !this.#upApplied.has(l.ifindex))) continue;
        try {
          this.#dhcp.start(l.ifname);
          log('info', `manage: DHCP client started on ${l.ifname}`);
        } catch (err) {
          fail(`starting DHCP on ${l.ifname}`, err);
        }
      }
    };
    startDhcp(true);

    const defaults: DefaultRoute[] = plan.defaults.map((r) => ({
      ifindex: r.ifindex,
      family: r.family,
      gateway: r.gateway,
      metric: r.metric,
    }));
    const managed = plan.links.map((l) => l.ifindex);
    const applyDefaults = async (): Promise<number> => {
      try {
        const r = await links.applyMainDefaults(defaults, managed);
        for (const p of r.problems) log('warn', `manage: ${p}`);
        return r.skipped.length;
      } catch (err) {
        fail('default routes', err);
        return 0;
      }
    };
    // Step 3 is for promotions before the address work. When the only new routes belong to links
    // whose addresses this pass changes (a new lease), it could only skip them: the addresses go
    // first and the routes right after (saves a route dump on the way to `connected`).
    const addressesOf = (l: ManagePlan['links'][number]): string => JSON.stringify(l.addresses);
    const keys = new Set(defaults.map(routeKey));
    const readdressed = new Set(
      plan.links.filter((l) => this.#prevAddresses.get(l.ifindex) !== addressesOf(l)).map((l) => l.ifindex),
    );
    const added = defaults.filter((r) => !this.#prevDefaults.has(routeKey(r)));
    const onlyNewOnReaddressed =
      !force &&
      this.#clean &&
      added.length > 0 &&
      added.every((r) => readdressed.has(r.ifindex)) &&
      [...this.#prevDefaults].every((k) => keys.has(k));
    this.#prevDefaults = keys;
    this.#prevAddresses = new Map(plan.links.map((l) => [l.ifindex, addressesOf(l)]));
    const skipped = onlyNewOnReaddressed ? 1 : await applyDefaults();

    try {
      const r = await links.applyLinkConfig(
        plan.links.map((l) => ({ ifindex: l.ifindex, up: l.adminUp, addresses: l.addresses })),
      );
      for (const p of r.problems) log('warn', `manage: ${p}`);
      this.#upApplied = new Set(plan.links.filter((l) => l.adminUp).map((l) => l.ifindex));
    } catch (err) {
      this.#upApplied = new Set();
      fail('link configuration', err);
    }
    startDhcp(false);

    // A next hop not reachable yet (no carrier) is not an error, but the route is still owed.
    if (skipped > 0 && (await applyDefaults()) > 0) clean = false;
    const active = new Set<string>();
    for (const r of defaults) {
      const key = routeKey(r);
      if (this.#active.has(key)) {
        active.add(key);
        continue;
      }
      if (await links.waitActive(r, ACTIVE_TIMEOUT_MS)) {
        active.add(key);
        log('debug', `manage: default route ${key} active`);
      } else {
        clean = false;
        log('warn', `manage: default route ${key} not confirmed by the kernel within ${ACTIVE_TIMEOUT_MS} ms`);
      }
    }
    this.#active = active;
    await switchIpv6(false);

    if (nameservers)
      await nameservers.update(plan.resolv).catch((err: unknown) => fail(`writing ${nameservers.path}`, err));
    return clean;
  }
}
