/**
 * ManageSync with recording fakes of its ports: the order of one pass (why it matters is in
 * manage-sync.ts), coalescing of requests, retries, and the lease-expiry timer. The kernel side
 * is covered by test/integration/manage-*.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { DhcpLeaseEvent, ManagePlan } from '../../../../daemon/core/manage-plan.js';
import type { Clock, DefaultRoute, DhcpClient, Ipv6Switches, LinkConfigurator } from '../../../../daemon/ports.js';
import { ManageSync, RETRY_MS } from '../../../../daemon/runtime/manage-sync.js';

class FakeClock implements Clock {
  t = 0;
  timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => (timer.live = false) };
  }
  advance(ms: number): void {
    this.t += ms;
    for (const x of this.timers.filter((x) => x.live && x.at <= this.t)) {
      x.live = false;
      x.fn();
    }
  }
}

const LEASE: DhcpLeaseEvent = {
  type: 'bound',
  address: '198.51.100.19',
  prefixLength: 29,
  router: '198.51.100.17',
  dns: [],
  leaseSeconds: 120,
  serverId: '198.51.100.17',
};

function world(initial: ManagePlan, ipv6?: Ipv6Switches) {
  const calls: string[] = [];
  const leases: Array<[string, DhcpLeaseEvent]> = [];
  let plan = initial;
  let skipNext = 0;
  let onLease: ((e: DhcpLeaseEvent) => void) | null = null;
  const links: LinkConfigurator = {
    start: async () => {},
    stop: () => {},
    applyLinkConfig: async (d) => {
      calls.push(
        `links ${d.map((l) => `#${l.ifindex}${l.up ? '+' : '-'}[${l.addresses.map((a) => a.address).join(',')}]`).join(' ')}`,
      );
      return { problems: [] };
    },
    applyMainDefaults: async (d: readonly DefaultRoute[]) => {
      calls.push(`defaults ${d.map((r) => `#${r.ifindex}:${r.metric}`).join(' ')}`);
      const skipped = skipNext > 0 ? ['unreachable'] : [];
      skipNext = Math.max(0, skipNext - 1);
      return { problems: [], skipped };
    },
    waitActive: async () => true,
    lifecycle: () => [],
  };
  const dhcp: DhcpClient = {
    start: (ifname, cb) => {
      calls.push(`dhcp start ${ifname}`);
      onLease = cb;
    },
    renew: () => {},
    stop: async (ifname, opts) => {
      calls.push(`dhcp stop ${ifname}${opts?.release === false ? ' (keep lease)' : ''}`);
    },
  };
  const clock = new FakeClock();
  const sync = new ManageSync({
    plan: () => plan,
    links,
    dhcp,
    ...(ipv6 ? { ipv6 } : {}),
    onLease: (ifname, e) => leases.push([ifname, e]),
    clock,
    log: () => {},
  });
  return {
    sync,
    calls,
    leases,
    clock,
    setPlan: (p: ManagePlan) => (plan = p),
    skip: (n: number) => (skipNext = n),
    lease: (e: DhcpLeaseEvent) => onLease?.(e),
  };
}

const link = (over: Partial<ManagePlan['links'][number]> = {}): ManagePlan['links'][number] => ({
  serviceId: 'b',
  ifindex: 12,
  ifname: 'eth-b',
  adminUp: true,
  configured: true,
  carrier: true,
  addresses: [],
  dhcp: true,
  ipv6: false,
  slaac: false,
  ...over,
});

describe('ManageSync', () => {
  it('orders a pass: DHCP stop before the address goes, defaults before addresses, defaults again when some were skipped', async () => {
    const w = world({
      links: [link({ addresses: [{ family: 4, address: '198.51.100.19', prefixLength: 29 }] })],
      defaults: [],
      resolv: [],
    });
    w.sync.request();
    await w.sync.settled();
    expect(w.calls).toEqual(['defaults ', 'links #12+[198.51.100.19]', 'dhcp start eth-b']);
    // Disconnect: the client must be stopped (RELEASE) while the address is still there.
    w.calls.length = 0;
    w.setPlan({ links: [link({ configured: false, dhcp: false })], defaults: [], resolv: [] });
    w.sync.request();
    await w.sync.settled();
    expect(w.calls).toEqual(['dhcp stop eth-b', 'defaults ', 'links #12+[]']);
    // A forced pass: a route whose next hop needs the address being added is skipped first, then added.
    w.calls.length = 0;
    w.skip(1);
    const addressed = (address: string): ManagePlan => ({
      links: [link({ dhcp: false, addresses: [{ family: 4, address, prefixLength: 29 }] })],
      defaults: [{ serviceId: 'b', ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 }],
      resolv: [],
    });
    w.setPlan(addressed('198.51.100.18'));
    w.sync.request(true);
    await w.sync.settled();
    expect(w.calls).toEqual(['defaults #12:0', 'links #12+[198.51.100.18]', 'defaults #12:0']);
    // Unforced (a new lease), with the only new route on the link being re-addressed: the address
    // first, the route right after, no route work before.
    w.setPlan({ links: [link({ dhcp: false })], defaults: [], resolv: [] });
    w.sync.request();
    await w.sync.settled();
    w.calls.length = 0;
    w.setPlan(addressed('198.51.100.19'));
    w.sync.request();
    await w.sync.settled();
    expect(w.calls).toEqual(['links #12+[198.51.100.19]', 'defaults #12:0']);
  });

  it('stops the DHCP client without a release when the link lost its carrier, and starts it first when carrier is back', async () => {
    const w = world({ links: [link()], defaults: [], resolv: [] });
    w.sync.request();
    await w.sync.settled();
    w.calls.length = 0;
    w.setPlan({ links: [link({ configured: false, carrier: false, dhcp: false })], defaults: [], resolv: [] });
    w.sync.request(true);
    await w.sync.settled();
    expect(w.calls[0]).toBe('dhcp stop eth-b (keep lease)');
    // Carrier back on a link that stayed up: the client starts before the route and address work.
    w.calls.length = 0;
    w.setPlan({ links: [link()], defaults: [], resolv: [] });
    w.sync.request(true);
    await w.sync.settled();
    expect(w.calls).toEqual(['dhcp start eth-b', 'defaults ', 'links #12+[]']);
  });

  it('writes IPv6 switches once per link and value, again for a re-created link or after a failure', async () => {
    const sets: string[] = [];
    let failNext = false;
    const ipv6: Ipv6Switches = {
      set: async (ifname, on, slaac) => {
        sets.push(`${ifname} ${on} ${slaac}`);
        if (failNext) {
          failNext = false;
          throw new Error('EACCES');
        }
      },
    };
    const w = world({ links: [link({ dhcp: false })], defaults: [], resolv: [] }, ipv6);
    const pass = async (plan?: ManagePlan) => {
      if (plan) w.setPlan(plan);
      w.sync.request(true);
      await w.sync.settled();
    };
    await pass();
    await pass();
    expect(sets).toEqual(['eth-b false false']);
    await pass({ links: [link({ dhcp: false, ipv6: true, slaac: true })], defaults: [], resolv: [] });
    expect(sets.at(-1)).toBe('eth-b true true');
    // Same name, new ifindex: the kernel's defaults are back, so it is written again.
    await pass({ links: [link({ dhcp: false, ifindex: 13, ipv6: true, slaac: true })], defaults: [], resolv: [] });
    expect(sets).toHaveLength(3);
    failNext = true;
    await pass({ links: [link({ dhcp: false, ifindex: 13 })], defaults: [], resolv: [] });
    await pass();
    expect(sets).toHaveLength(5);
  });

  it('skips an unchanged plan, but not a forced request made in the same turn', async () => {
    const w = world({ links: [link({ dhcp: false })], defaults: [], resolv: [] });
    w.sync.request();
    await w.sync.settled();
    w.calls.length = 0;
    w.sync.request();
    await w.sync.settled();
    expect(w.calls).toEqual([]);
    // An engine result (unforced) and then a link event (forced), synchronously one after the other.
    w.sync.request();
    w.sync.request(true);
    await w.sync.settled();
    expect(w.calls).toEqual(['defaults ', 'links #12+[]']);
  });

  it('a forced request arriving while a pass runs gets its own pass', async () => {
    const w = world({ links: [link({ dhcp: false })], defaults: [], resolv: [] });
    w.sync.request();
    await Promise.resolve();
    await Promise.resolve();
    w.sync.request(true);
    await w.sync.settled();
    expect(w.calls).toEqual(['defaults ', 'links #12+[]', 'defaults ', 'links #12+[]']);
  });

  it('retries after RETRY_MS while a default route stays unreachable', async () => {
    const w = world({
      links: [link({ dhcp: false })],
      defaults: [{ serviceId: 'b', ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 }],
      resolv: [],
    });
    w.skip(2);
    w.sync.request();
    await w.sync.settled();
    expect(w.calls.filter((c) => c.startsWith('defaults'))).toHaveLength(2);
    w.calls.length = 0;
    w.clock.advance(RETRY_MS);
    await w.sync.settled();
    expect(w.calls).toEqual(['defaults #12:0', 'links #12+[]']);
  });

  it('backs off while a pass keeps failing, and starts over after a clean one', async () => {
    const w = world({
      links: [link({ dhcp: false })],
      defaults: [{ serviceId: 'b', ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 }],
      resolv: [],
    });
    const passesAfter = async (ms: number): Promise<number> => {
      w.calls.length = 0;
      w.clock.advance(ms);
      await w.sync.settled();
      return w.calls.filter((c) => c.startsWith('links')).length;
    };
    w.skip(1000);
    w.sync.request();
    await w.sync.settled();
    expect(await passesAfter(RETRY_MS)).toBe(1);
    // The next retry is due after 2·RETRY_MS, not RETRY_MS.
    expect(await passesAfter(RETRY_MS)).toBe(0);
    expect(await passesAfter(RETRY_MS)).toBe(1);
    expect(await passesAfter(4 * RETRY_MS)).toBe(1);
    w.skip(0);
    expect(await passesAfter(8 * RETRY_MS)).toBe(1);
    // Clean now: no more retries.
    expect(await passesAfter(60 * RETRY_MS)).toBe(0);
  });

  it('ends a lease nobody renewed when its time is up, and forgets the timer on renewal', async () => {
    const w = world({ links: [link()], defaults: [], resolv: [] });
    w.sync.request();
    await w.sync.settled();
    w.lease(LEASE);
    w.clock.advance(100_000);
    w.lease({ ...LEASE, type: 'renew' });
    w.clock.advance(100_000);
    expect(w.leases.map(([, e]) => e.type)).toEqual(['bound', 'renew']);
    w.clock.advance(20_000);
    expect(w.leases.map(([i, e]) => `${i} ${e.type} ${e.address}`)).toEqual([
      'eth-b bound 198.51.100.19',
      'eth-b renew 198.51.100.19',
      'eth-b expire 198.51.100.19',
    ]);
  });
});
