/**
 * Manage mode through the engine (pure): which links are configured, the plan the runtime
 * applies, user actions, session autoconnect, leases. The kernel side is covered by
 * test/integration/manage-*.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../../daemon/core/engine.js';
import { lowPriorityMetric } from '../../../../daemon/core/manage-routes.js';
import type { LinkFacts } from '../../../../daemon/core/services.js';
import { codeOf } from '../../../fakes/errors.js';
import { as, ROOT, uplink } from '../../../fakes/links.js';

const STATIC_A =
  '[service_a]\nType = ethernet\nDeviceName = eth-a\nIPv4 = 198.51.100.10/255.255.255.248/198.51.100.9\nNameservers = 203.0.113.53\n';

/** A managed link as the kernel reports it before the daemon configured it: up, carrier, no address. */
function bare(ifindex: number, name: string, bearer: LinkFacts['bearer'], over: Partial<LinkFacts> = {}): LinkFacts {
  return uplink(ifindex, name, bearer ?? 'ethernet', { v4: null, ...over, bearer });
}

/** The same link once the daemon's address (and its default route) is there. */
function configured(
  ifindex: number,
  name: string,
  bearer: LinkFacts['bearer'],
  address: string,
  gateway: string,
): LinkFacts {
  return {
    ...bare(ifindex, name, bearer),
    addresses: [{ family: 4, address, prefixLength: 29, method: 'manual', scope: 'global' }],
    gateways: [{ family: 4, gateway, metric: 0 }],
  };
}

function engine(manage = ['eth-*'], extra: Partial<ConstructorParameters<typeof Engine>[0] & object> = {}): Engine {
  return new Engine({ manage: { manage }, ...extra });
}

function state(e: Engine, ifname: string): string {
  return e.services().find((s) => s.ifname === ifname)!.state;
}

function idOf(e: Engine, ifname: string): string {
  return e.services().find((s) => s.ifname === ifname)!.id;
}

describe('manage mode: which links are configured', () => {
  it('leaves every link observed without ManageInterfaces (plan empty, states from facts)', () => {
    const e = new Engine();
    e.linkChanged(bare(11, 'eth-a', 'ethernet'));
    expect(e.manage.enabled).toBe(false);
    expect(e.managePlan().links).toEqual([]);
    expect(state(e, 'eth-a')).toBe('configuration');
  });

  it('brings a wired managed link with carrier up with ConnMan defaults (DHCP, IPv6 auto) when nothing provisions it', () => {
    const e = engine();
    e.linkChanged(bare(11, 'eth-a', 'ethernet'));
    expect(state(e, 'eth-a')).toBe('configuration');
    const [l] = e.managePlan().links;
    expect(l).toMatchObject({
      ifname: 'eth-a',
      adminUp: true,
      configured: true,
      dhcp: true,
      ipv6: true,
      slaac: true,
      addresses: [],
    });
  });

  it('keeps an observed link (ObserveInterfaces wins) out of the plan', () => {
    const e = new Engine({ manage: { manage: ['eth-*'], observe: ['eth-b'] } });
    e.linkChanged(bare(11, 'eth-a', 'ethernet'));
    e.linkChanged(bare(12, 'eth-b', 'ethernet'));
    expect(e.managePlan().links.map((l) => l.ifname)).toEqual(['eth-a']);
    expect(state(e, 'eth-b')).toBe('configuration');
  });

  it('holds a managed link nobody connected at idle even though it still carries an address', () => {
    const e = engine();
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    expect(state(e, 'eth-a')).toBe('ready');
    e.serviceDisconnect(idOf(e, 'eth-a'));
    expect(state(e, 'eth-a')).toBe('idle');
    expect(e.managePlan().links[0]).toMatchObject({ configured: false, addresses: [], dhcp: false, ipv6: false });
  });

  it('brings cellular up only when no managed service is up; once up it stays when a wired one joins', () => {
    const e = engine();
    e.linkChanged(bare(13, 'eth-c', 'cellular'));
    expect(state(e, 'eth-c')).toBe('configuration');
    e.linkChanged(bare(11, 'eth-a', 'ethernet'));
    // Both up now: autoconnect does not disconnect a fallback that is already up.
    expect(e.managePlan().links.map((l) => [l.ifname, l.configured])).toEqual([
      ['eth-a', true],
      ['eth-c', true],
    ]);
    const e2 = engine();
    e2.linkChanged(bare(11, 'eth-a', 'ethernet'));
    e2.linkChanged(bare(13, 'eth-c', 'cellular'));
    expect(state(e2, 'eth-c')).toBe('idle');
  });
});

describe('manage mode: provisioning', () => {
  it('applies a static section and rejects a malformed file as a whole, keeping its previous version', () => {
    const e = engine();
    e.loadProvisioning('lab.config', STATIC_A);
    e.linkChanged(bare(11, 'eth-a', 'ethernet'));
    const want = { addresses: [{ family: 4, address: '198.51.100.10', prefixLength: 29 }], dhcp: false };
    expect(e.managePlan().links[0]).toMatchObject(want);
    expect(codeOf(() => e.loadProvisioning('lab.config', STATIC_A.replace('255.255.255.248', '255.0.255.0')))).toBe(
      'NSD_ERR_PROVISIONING',
    );
    expect(e.managePlan().links[0]).toMatchObject(want);
    e.removeProvisioning('lab.config');
    expect(e.managePlan().links[0]).toMatchObject({ addresses: [], dhcp: true });
  });

  it('installs metric 0 for the best connected service and the low-priority metric for the others, per ranking', () => {
    const e = engine(['eth-*'], { preferredTechnologies: ['gadget', 'ethernet'] });
    e.loadProvisioning(
      'lab.config',
      `${STATIC_A}\n[service_b]\nType = gadget\nDeviceName = eth-b\nIPv4 = 198.51.100.18/29/198.51.100.17\n`,
    );
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    e.linkChanged(configured(12, 'eth-b', 'gadget', '198.51.100.18', '198.51.100.17'));
    expect(e.managePlan().defaults).toEqual([
      { serviceId: idOf(e, 'eth-b'), ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 },
      { serviceId: idOf(e, 'eth-a'), ifindex: 11, family: 4, gateway: '198.51.100.9', metric: lowPriorityMetric(11) },
    ]);
    // eth-b loses its carrier: demoted out, eth-a promoted.
    e.linkChanged({ ...configured(12, 'eth-b', 'gadget', '198.51.100.18', '198.51.100.17'), carrier: false });
    expect(e.managePlan().defaults).toEqual([
      { serviceId: idOf(e, 'eth-a'), ifindex: 11, family: 4, gateway: '198.51.100.9', metric: 0 },
    ]);
    expect(e.managePlan().links.find((l) => l.ifname === 'eth-b')).toMatchObject({ configured: false, addresses: [] });
    // Carrier back: it autoconnects again and is promoted back.
    e.linkChanged(configured(12, 'eth-b', 'gadget', '198.51.100.18', '198.51.100.17'));
    expect(e.managePlan().defaults.map((d) => [d.ifindex, d.metric])).toEqual([
      [12, 0],
      [11, lowPriorityMetric(11)],
    ]);
  });

  it('puts provisioned nameservers first-ranked in the resolv plan', () => {
    const e = engine();
    e.loadProvisioning('lab.config', STATIC_A);
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    expect(e.managePlan().resolv).toEqual([{ ifname: 'eth-a', nameservers: ['203.0.113.53'], domains: [] }]);
  });
});

describe('manage mode: DHCP leases', () => {
  it("plans a static link's default route with its address once carrier is back, and keeps it ranked behind a connected one", () => {
    const e = engine();
    e.loadProvisioning(
      'a.config',
      `${STATIC_A}[service_b]\nType = ethernet\nDeviceName = eth-b\nIPv4 = 198.51.100.18/255.255.255.248/198.51.100.17\n`,
    );
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    e.linkChanged(bare(12, 'eth-b', 'ethernet'));
    const d = e.managePlan().defaults;
    expect(d.map((r) => `${r.ifindex}:${r.metric}`)).toEqual(['11:0', `12:${lowPriorityMetric(12)}`]);
    // Without carrier nothing is planned for it.
    e.linkChanged(bare(12, 'eth-b', 'ethernet', { carrier: false }));
    expect(e.managePlan().defaults.map((r) => r.ifindex)).toEqual([11]);
  });

  it('adds the leased address and its router, reports Method dhcp, and drops both on release', () => {
    const e = engine();
    e.linkChanged(bare(12, 'eth-b', 'ethernet'));
    e.dhcpLease('eth-b', {
      type: 'bound',
      address: '198.51.100.19',
      prefixLength: 29,
      router: '198.51.100.17',
      dns: ['203.0.113.54'],
      leaseSeconds: 120,
      serverId: '198.51.100.17',
    });
    expect(e.managePlan().links[0]!.addresses).toEqual([{ family: 4, address: '198.51.100.19', prefixLength: 29 }]);
    // The route comes in the same plan as the address (the runtime adds it right after the
    // address), not one kernel round trip later; the service is still in configuration.
    expect(e.managePlan().defaults).toEqual([
      { serviceId: idOf(e, 'eth-b'), ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 },
    ]);
    expect(state(e, 'eth-b')).toBe('configuration');
    // The kernel now reports the address (permanent, as link-config adds it).
    e.linkChanged({
      ...bare(12, 'eth-b', 'ethernet'),
      addresses: [{ family: 4, address: '198.51.100.19', prefixLength: 29, method: 'manual', scope: 'global' }],
    });
    const s = e.services().find((x) => x.ifname === 'eth-b')!;
    expect(s.addresses[0]!.method).toBe('dhcp');
    // Addressed but its default route is not in the kernel yet: not ready, but the route is planned.
    expect(s.state).toBe('configuration');
    expect(e.managePlan().defaults).toEqual([
      { serviceId: s.id, ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 },
    ]);
    expect(e.managePlan().resolv).toEqual([]);
    e.linkChanged({
      ...bare(12, 'eth-b', 'ethernet'),
      addresses: [{ family: 4, address: '198.51.100.19', prefixLength: 29, method: 'manual', scope: 'global' }],
      gateways: [{ family: 4, gateway: '198.51.100.17', metric: 0 }],
    });
    expect(state(e, 'eth-b')).toBe('ready');
    expect(e.managePlan().resolv).toEqual([{ ifname: 'eth-b', nameservers: ['203.0.113.54'], domains: [] }]);
    e.dhcpLease('eth-b', {
      type: 'release',
      address: '198.51.100.19',
      prefixLength: 29,
      router: '',
      dns: [],
      leaseSeconds: 0,
      serverId: '',
    });
    expect(e.managePlan().links[0]!.addresses).toEqual([]);
    expect(e.managePlan().links[0]!.dhcp).toBe(true);
  });
});

describe('manage mode: user actions', () => {
  it('Connect/Disconnect with ConnMan errors, AutoConnect persisted, observed links NotSupported', () => {
    const e = new Engine({ manage: { manage: ['eth-a'] } });
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    e.linkChanged(configured(12, 'eth-b', 'ethernet', '198.51.100.18', '198.51.100.17'));
    const a = idOf(e, 'eth-a');
    expect(codeOf(() => e.serviceConnect(a))).toBe('NSD_ERR_ALREADY_CONNECTED');
    e.serviceDisconnect(a);
    expect(codeOf(() => e.serviceDisconnect(a))).toBe('NSD_ERR_NOT_CONNECTED');
    // A user Disconnect is not undone by autoconnect on the next event.
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    expect(state(e, 'eth-a')).toBe('idle');
    e.serviceConnect(a);
    expect(state(e, 'eth-a')).toBe('ready');
    const fx = e.setServiceAutoConnect(a, false);
    expect(fx.settingsChanged).toBe(true);
    expect(e.manage.persisted()[a]).toEqual({ favorite: true, autoConnect: false });
    expect(codeOf(() => e.serviceConnect(idOf(e, 'eth-b')))).toBe('NSD_ERR_ALREADY_CONNECTED');
    expect(codeOf(() => e.serviceDisconnect(idOf(e, 'eth-b')))).toBe('NSD_ERR_NOT_SUPPORTED');
    expect(codeOf(() => e.setServiceAutoConnect(idOf(e, 'eth-b'), false))).toBe('NSD_ERR_NOT_SUPPORTED');
  });

  it('MoveBefore/MoveAfter decide between equal services; errors as ConnMan', () => {
    const e = engine();
    e.loadProvisioning(
      'lab.config',
      `${STATIC_A}\n[service_b]\nType = ethernet\nDeviceName = eth-b\nIPv4 = 198.51.100.18/29/198.51.100.17\n`,
    );
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    e.linkChanged(configured(12, 'eth-b', 'ethernet', '198.51.100.18', '198.51.100.17'));
    const [a, b] = [idOf(e, 'eth-a'), idOf(e, 'eth-b')];
    const metric0 = () => e.managePlan().defaults.find((d) => d.metric === 0)?.ifindex;
    expect(metric0()).toBe(11);
    e.moveService(b, a, true);
    expect(metric0()).toBe(12);
    e.moveService(b, a, false);
    expect(metric0()).toBe(11);
    // Preferred technology and state still come first (M8): an online eth-b beats a ready eth-a.
    e.moveService(a, b, true);
    e.onlineStatus(b, 4, { online: true, portal: null });
    expect(metric0()).toBe(12);
    expect(codeOf(() => e.moveService(a, a, true))).toBe('NSD_ERR_INVALID_SERVICE');
    expect(codeOf(() => e.moveService(a, 'nope', true))).toBe('NSD_ERR_INVALID_SERVICE');
    const o = new Engine({ manage: { manage: ['eth-a'] } });
    o.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    o.linkChanged(configured(12, 'eth-b', 'ethernet', '198.51.100.18', '198.51.100.17'));
    expect(codeOf(() => o.moveService(idOf(o, 'eth-b'), idOf(o, 'eth-a'), true))).toBe('NSD_ERR_NOT_SUPPORTED');
    expect(codeOf(() => o.moveService(idOf(o, 'eth-a'), idOf(o, 'eth-b'), true))).toBe('NSD_ERR_INVALID_SERVICE');
  });

  it('a saved AutoConnect=false keeps the link idle after a restart', () => {
    const e = engine();
    e.restoreServiceFlags({ ethernet_02000000000b_cable: { favorite: true, autoConnect: false } });
    e.linkChanged(bare(11, 'eth-a', 'ethernet'));
    expect(idOf(e, 'eth-a')).toBe('ethernet_02000000000b_cable');
    expect(state(e, 'eth-a')).toBe('idle');
  });

  it('OfflineMode and Powered take managed links down and bring them back configured', () => {
    const e = engine();
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    e.setOfflineMode(true);
    expect(e.managePlan().links[0]).toMatchObject({ adminUp: false, configured: false });
    // The kernel reports the link down (no carrier either).
    e.linkChanged({ ...bare(11, 'eth-a', 'ethernet'), adminUp: false, carrier: false });
    e.setOfflineMode(false);
    expect(e.managePlan().links[0]).toMatchObject({ adminUp: true, configured: false });
    e.linkChanged(bare(11, 'eth-a', 'ethernet'));
    expect(e.managePlan().links[0]).toMatchObject({ adminUp: true, configured: true });
    e.setTechnologyPowered('ethernet', false);
    expect(e.managePlan().links[0]).toMatchObject({ adminUp: false, configured: false });
  });
});

describe('manage mode: session autoconnect', () => {
  it('brings up an idle cellular service for a connected session that allows only cellular, and releases it when the session ends', () => {
    const e = engine();
    e.linkChanged(configured(11, 'eth-a', 'ethernet', '198.51.100.10', '198.51.100.9'));
    e.linkChanged(bare(13, 'eth-c', 'cellular'));
    expect(state(e, 'eth-c')).toBe('idle');
    const { path } = e.createSession({
      owner: ':1.5',
      notifier: '/n',
      identity: ROOT,
      settings: { AllowedBearers: as(['cellular']) },
    });
    // Created but not connected: nothing asked for yet.
    expect(state(e, 'eth-c')).toBe('idle');
    e.connect(path, { owner: ':1.5', uid: 0 });
    expect(state(e, 'eth-c')).toBe('configuration');
    expect(e.managePlan().links.find((l) => l.ifname === 'eth-c')).toMatchObject({ configured: true, dhcp: true });
    e.destroySession(path, { owner: ':1.5', uid: 0 });
    expect(state(e, 'eth-c')).toBe('idle');
    expect(e.managePlan().links.find((l) => l.ifname === 'eth-c')).toMatchObject({ configured: false });
  });
});
