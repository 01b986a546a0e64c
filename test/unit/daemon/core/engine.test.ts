import { describe, expect, it } from 'vitest';
import type { Effects } from '../../../../daemon/core/effects.js';
import { type Caller, Engine } from '../../../../daemon/core/engine.js';
import { SETTING_KEYS } from '../../../../lib/protocol.js';
import { codeOf } from '../../../fakes/errors.js';
import { alice, as, bool, ROOT, str, uplink } from '../../../fakes/links.js';

const OWNER = ':1.7';
const ME: Caller = { owner: OWNER, uid: 0 };

function setup() {
  const e = new Engine();
  e.linkChanged(uplink(2, 'eth0', 'ethernet'));
  e.linkChanged(uplink(3, 'wlan0', 'wifi'));
  e.linkChanged(uplink(4, 'wwan0', 'cellular'));
  return e;
}

function create(e: Engine, settings = {}, notifier = '/app/n1', owner = OWNER, identity = ROOT) {
  return e.createSession({ owner, notifier, identity, settings });
}

/** The one Update of `fx` for `path`, as a plain object. */
function upd(fx: Effects, path: string): Record<string, unknown> | undefined {
  const u = fx.updates.filter((x) => x.path === path);
  expect(u.length).toBeLessThanOrEqual(1);
  return u[0] ? Object.fromEntries(u[0].changes) : undefined;
}

function serviceIdOf(e: Engine, ifname: string): string {
  const s = e.services().find((x) => x.ifname === ifname);
  if (!s) throw new Error(`no service ${ifname}`);
  return s.id;
}

describe('services from links', () => {
  it('derives ConnMan ids, states and order', () => {
    const e = new Engine();
    e.linkChanged(uplink(3, 'wlan0', 'wifi'));
    e.linkChanged(uplink(2, 'eth0', 'ethernet', { mac: '02:AA:bb:cc:dd:ee' }));
    e.linkChanged(uplink(5, 'eth1', 'ethernet', { v4: null }));
    e.linkChanged(uplink(6, 'eth2', 'ethernet', { carrier: false }));
    const s = e.services();
    expect(s.map((x) => [x.ifname, x.state])).toEqual([
      ['eth0', 'ready'],
      ['wlan0', 'ready'],
      ['eth1', 'configuration'],
      ['eth2', 'idle'],
    ]);
    expect(s[0]!.id).toBe('ethernet_02aabbccddee_cable');
    expect(s[1]!.id).toMatch(/^wifi_[0-9a-f]{12}_wlan0$/);
    expect(e.managerState()).toBe('ready');
  });

  it('goes online when a check passes and back when it fails; the order follows', () => {
    const e = setup();
    const wifi = serviceIdOf(e, 'wlan0');
    const fx = e.onlineStatus(wifi, 4, { online: true, portal: null });
    expect(e.services()[0]!.ifname).toBe('wlan0');
    expect(fx.servicesReordered).toBe(true);
    expect(fx.managerChanged.has('State')).toBe(true);
    expect(e.managerState()).toBe('online');
    e.onlineStatus(wifi, 4, { online: false, portal: null }, 'online-check-failed');
    expect(e.services().find((x) => x.id === wifi)!.state).toBe('ready');
    expect(e.services().find((x) => x.id === wifi)!.error).toBe('online-check-failed');
  });

  it('asks for online checks per service and family, restarting on an address change', () => {
    const e = new Engine();
    let fx = e.linkChanged(uplink(2, 'eth0', 'ethernet', { v6: '2001:db8:1::2' }));
    const id = serviceIdOf(e, 'eth0');
    expect(fx.checks).toEqual([
      { serviceId: id, family: 4, op: 'start' },
      { serviceId: id, family: 6, op: 'start' },
    ]);
    fx = e.linkChanged(uplink(2, 'eth0', 'ethernet', { v6: '2001:db8:1::2' }));
    expect(fx.checks).toEqual([]);
    e.onlineStatus(id, 4, { online: true, portal: null });
    fx = e.linkChanged(uplink(2, 'eth0', 'ethernet', { v4: '198.51.100.66', v6: '2001:db8:1::2' }));
    expect(fx.checks).toEqual([
      { serviceId: id, family: 4, op: 'stop' },
      { serviceId: id, family: 4, op: 'start' },
    ]);
    expect(e.services()[0]!.state).toBe('ready');
    fx = e.linkRemoved(2);
    expect(fx.checks.map((c) => c.op)).toEqual(['stop', 'stop']);
    expect(fx.removedServices).toEqual([id]);
    expect(fx.removedTechnologies).toEqual(['ethernet']);
  });
});

describe('CreateSession and the first Update', () => {
  it('carries all 11 keys in ConnMan order with the selected service', () => {
    const e = setup();
    const { path, effects } = create(e);
    expect(path).toBe('/sessions/_1_7/app/n1');
    expect(effects.updates).toHaveLength(1);
    expect([...effects.updates[0]!.changes.keys()]).toEqual(SETTING_KEYS);
    expect(upd(effects, path)).toMatchObject({
      State: 'connected',
      Name: 'eth0',
      Interface: 'eth0',
      Bearer: 'ethernet',
      IPv4: { Method: 'manual', Address: '198.51.100.10', Netmask: '255.255.255.252', Gateway: '198.51.100.9' },
      IPv6: {},
      ConnectionType: 'any',
      AllowedBearers: ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'],
      AllowedInterface: '*',
      ContextIdentifier: '',
      SourceIPRule: false,
    });
  });

  it('honours bearer order on the first pick (ConnMan picks in hash order)', () => {
    const e = setup();
    const { path, effects } = create(e, { AllowedBearers: as(['cellular', 'wifi']) });
    expect(upd(effects, path)).toMatchObject({ Interface: 'wwan0', AllowedBearers: ['cellular', 'wifi'] });
  });

  it('keeps ContextIdentifier (ConnMan drops it)', () => {
    const e = setup();
    const { path, effects } = create(e, { ContextIdentifier: str('ctx-1') });
    expect(upd(effects, path)!.ContextIdentifier).toBe('ctx-1');
  });

  it('internet sessions wait for an online service', () => {
    const e = setup();
    const { path, effects } = create(e, { ConnectionType: str('internet') });
    expect(upd(effects, path)).toMatchObject({ State: 'disconnected', Interface: '' });
    const fx = e.onlineStatus(serviceIdOf(e, 'wwan0'), 4, { online: true, portal: null });
    expect(upd(fx, path)).toMatchObject({ State: 'online', Interface: 'wwan0', Bearer: 'cellular' });
  });

  it('rejects bad input with typed errors and creates nothing', () => {
    const e = setup();
    expect(codeOf(() => create(e, { AllowedBearers: as(['foo']) }))).toBe('NSD_ERR_UNKNOWN_BEARER');
    expect(codeOf(() => create(e, { Bogus: str('x') }))).toBe('NSD_ERR_UNKNOWN_SETTING');
    expect(codeOf(() => create(e, {}, '/'))).toBe('NSD_ERR_BAD_NOTIFIER');
    expect(codeOf(() => create(e, {}, 'not/a/path'))).toBe('NSD_ERR_BAD_NOTIFIER');
    expect(e.sessions()).toHaveLength(0);
    create(e);
    expect(codeOf(() => create(e))).toBe('NSD_ERR_SESSION_EXISTS');
    expect(e.sessions()).toHaveLength(1);
  });

  it('enforces per-client and per-uid limits', () => {
    const e = new Engine({ core: { maxSessionsPerClient: 2, maxSessionsPerUid: 3 } });
    create(e, {}, '/a');
    create(e, {}, '/b');
    expect(codeOf(() => create(e, {}, '/c'))).toBe('NSD_ERR_SESSION_LIMIT');
    create(e, {}, '/c', ':1.8');
    expect(codeOf(() => create(e, {}, '/d', ':1.8'))).toBe('NSD_ERR_SESSION_LIMIT');
    create(e, {}, '/d', ':1.9', alice);
  });
});

describe('session tags', () => {
  it('each session gets its own tag; exhausting them is a clear error; destroyed tags come back', () => {
    const e = new Engine({ core: { sessionTagMask: 0x3, maxSessionsPerClient: 10, maxSessionsPerUid: 10 } });
    // Each claims a cgroup: a session that claims nothing has no marking to carry its tag.
    const claimed = (notifier: string) => {
      const { path } = create(e, {}, notifier);
      e.claimCgroup(path, ME, `/app${notifier}`, ME.uid);
      return path;
    };
    const a = claimed('/a');
    claimed('/b');
    claimed('/c');
    expect(new Set(e.kernelState().firewall.sessions.map((s) => s.tag))).toEqual(new Set([1, 2, 3]));
    expect(codeOf(() => create(e, {}, '/d'))).toBe('NSD_ERR_ALLOCATION_EXHAUSTED');
    expect(e.sessions()).toHaveLength(3);
    e.destroySession(a, ME);
    claimed('/d');
    expect(
      e
        .kernelState()
        .firewall.sessions.map((s) => s.tag)
        .sort(),
    ).toEqual([1, 2, 3]);
  });
});

describe('state over link events', () => {
  it('fails over when the bound uplink loses carrier, and comes back', () => {
    const e = setup();
    const { path } = create(e);
    let fx = e.linkChanged(uplink(2, 'eth0', 'ethernet', { carrier: false }));
    expect(upd(fx, path)).toEqual({
      Name: 'wlan0',
      IPv4: { Method: 'manual', Address: '198.51.100.14', Netmask: '255.255.255.252', Gateway: '198.51.100.13' },
      IPv6: {},
      Interface: 'wlan0',
      Bearer: 'wifi',
    });
    fx = e.linkChanged(uplink(2, 'eth0', 'ethernet'));
    expect(upd(fx, path)).toMatchObject({ Interface: 'eth0', Bearer: 'ethernet' });
  });

  it('a session pinned by AllowedInterface goes disconnected and stays there', () => {
    const e = setup();
    const { path } = create(e, { AllowedInterface: str('wlan0') });
    const fx = e.linkChanged(uplink(3, 'wlan0', 'wifi', { carrier: false }));
    expect(upd(fx, path)).toEqual({ State: 'disconnected', Name: '', IPv4: {}, IPv6: {}, Interface: '', Bearer: '' });
  });

  it('propagates ready -> online -> ready on the bound service (ConnMan misses it)', () => {
    const e = setup();
    const { path } = create(e);
    const eth = serviceIdOf(e, 'eth0');
    expect(upd(e.onlineStatus(eth, 4, { online: true, portal: null }), path)).toEqual({ State: 'online' });
    expect(upd(e.onlineStatus(eth, 4, { online: false, portal: null }), path)).toEqual({ State: 'connected' });
  });

  it('an internet session whose service drops to ready looks for another one', () => {
    const e = setup();
    const eth = serviceIdOf(e, 'eth0');
    const wifi = serviceIdOf(e, 'wlan0');
    e.onlineStatus(eth, 4, { online: true, portal: null });
    e.onlineStatus(wifi, 4, { online: true, portal: null });
    const { path } = create(e, { ConnectionType: str('internet') });
    const fx = e.onlineStatus(eth, 4, { online: false, portal: null });
    const u = upd(fx, path)!;
    expect(u).toMatchObject({ Interface: 'wlan0', Bearer: 'wifi' });
    expect(u).not.toHaveProperty('State');
    expect(e.sessions()[0]!.settings.State).toBe('online');
  });

  it('sends an IP-only Update when the bound service changes address', () => {
    const e = setup();
    const { path } = create(e);
    const fx = e.linkChanged(uplink(2, 'eth0', 'ethernet', { v6: '2001:db8:2::5' }));
    expect(upd(fx, path)).toEqual({
      IPv6: { Method: 'auto', Address: '2001:db8:2::5', PrefixLength: 64, Gateway: 'fe80::1', Privacy: 'disabled' },
    });
  });

  it('repeated identical events produce no Update and no kernel work for sessions', () => {
    const e = setup();
    const { path } = create(e);
    const fx = e.linkChanged(uplink(3, 'wlan0', 'wifi'));
    expect(upd(fx, path)).toBeUndefined();
  });

  it('moves every session of a group with one failover', () => {
    const e = setup();
    const paths = Array.from({ length: 50 }, (_, i) => create(e, {}, `/n${i}`).path);
    const fx = e.linkRemoved(2);
    expect(fx.updates.map((u) => u.path)).toEqual(paths);
    expect(e.sessions().every((s) => s.settings.Interface === 'wlan0')).toBe(true);
    // Sessions created on one service were told one service half: the move is one shared delta
    // (the bus adapter then builds and encodes that Update once), already at the first failover.
    expect(new Set(fx.updates.map((u) => u.changes)).size).toBe(1);
    expect(Object.fromEntries(fx.updates[0]!.changes)).toMatchObject({ Interface: 'wlan0', Bearer: 'wifi' });
    // And back, the same.
    const back = e.linkChanged(uplink(2, 'eth0', 'ethernet'));
    expect(back.updates).toHaveLength(50);
    expect(new Set(back.updates.map((u) => u.changes)).size).toBe(1);
    expect(Object.fromEntries(back.updates[0]!.changes)).toMatchObject({ Interface: 'eth0', Bearer: 'ethernet' });
  });

  it('a service half is shared only while equal: a session created after an address change is told the new address', () => {
    const e = setup();
    const a = create(e, {}, '/a').path;
    const fx = e.linkChanged(uplink(2, 'eth0', 'ethernet', { v4: '198.51.100.77' }));
    expect(upd(fx, a)).toMatchObject({ IPv4: expect.objectContaining({ Address: '198.51.100.77' }) });
    const b = create(e, {}, '/b');
    expect(Object.fromEntries(b.effects.updates[0]!.changes).IPv4).toMatchObject({ Address: '198.51.100.77' });
    // Nothing changed since: no Update for either.
    expect(e.linkChanged(uplink(2, 'eth0', 'ethernet', { v4: '198.51.100.77' })).updates).toEqual([]);
  });
});

describe('Change, Connect, Disconnect', () => {
  it('Change(AllowedBearers) re-selects in one Update and keeps Connect', () => {
    const e = setup();
    const { path } = create(e);
    e.connect(path, ME);
    const fx = e.change(path, ME, 'AllowedBearers', as(['cellular']));
    expect(upd(fx, path)).toMatchObject({ Interface: 'wwan0', AllowedBearers: ['cellular'] });
    expect(e.sessions()[0]!.active).toBe(true);
  });

  it('Change(ConnectionType) re-checks the bound service (ConnMan does not)', () => {
    const e = setup();
    const { path } = create(e);
    const fx = e.change(path, ME, 'ConnectionType', str('internet'));
    expect(upd(fx, path)).toEqual({
      State: 'disconnected',
      Name: '',
      IPv4: {},
      IPv6: {},
      Interface: '',
      Bearer: '',
      ConnectionType: 'internet',
    });
  });

  it('Change with a bad value leaves the session as it was', () => {
    const e = setup();
    const { path } = create(e, { AllowedBearers: as(['wifi']) });
    const before = e.sessions()[0]!.settings;
    expect(codeOf(() => e.change(path, ME, 'AllowedBearers', as(['wifi', 'nope'])))).toBe('NSD_ERR_UNKNOWN_BEARER');
    expect(codeOf(() => e.change(path, ME, 'State', str('online')))).toBe('NSD_ERR_READ_ONLY_SETTING');
    expect(codeOf(() => e.change(path, ME, 'SourceIPRule', str('yes')))).toBe('NSD_ERR_WRONG_TYPE');
    expect(e.sessions()[0]!.settings).toEqual(before);
  });

  it('Change(AllowedInterface) to "" means any', () => {
    const e = setup();
    const { path } = create(e, { AllowedInterface: str('wwan0') });
    const fx = e.change(path, ME, 'AllowedInterface', str(''));
    expect(upd(fx, path)).toMatchObject({ Interface: 'eth0', AllowedInterface: '*' });
  });

  it('Disconnect holds the session until Connect, even when services come and go', () => {
    const e = setup();
    const { path } = create(e);
    let fx = e.disconnect(path, ME);
    expect(upd(fx, path)).toMatchObject({ State: 'disconnected', Interface: '' });
    fx = e.linkChanged(uplink(7, 'eth9', 'ethernet'));
    expect(upd(fx, path)).toBeUndefined();
    fx = e.connect(path, ME);
    expect(upd(fx, path)).toMatchObject({ State: 'connected', Interface: 'eth0' });
    fx = e.connect(path, ME);
    expect(fx.updates).toHaveLength(0);
  });

  it('only the owner or root may act on a session', () => {
    const e = setup();
    const { path } = create(e, {}, '/x', ':1.50', alice);
    const stranger: Caller = { owner: ':1.51', uid: 1002 };
    expect(codeOf(() => e.change(path, stranger, 'SourceIPRule', bool(true)))).toBe('NSD_ERR_NOT_OWNER');
    expect(codeOf(() => e.destroySession(path, stranger))).toBe('NSD_ERR_NOT_OWNER');
    expect(codeOf(() => e.disconnect(path, { owner: ':1.52', uid: 1001 }))).toBe('NSD_ERR_NOT_OWNER');
    e.change(path, { owner: ':1.99', uid: 0 }, 'SourceIPRule', bool(true));
    expect(e.sessions()[0]!.settings.SourceIPRule).toBe(true);
  });

  it('Destroy sends a last disconnected Update; an owner leaving the bus sends none', () => {
    const e = setup();
    const a = create(e, {}, '/a').path;
    const b = create(e, {}, '/b').path;
    const fx = e.destroySession(a, ME);
    expect(upd(fx, a)).toMatchObject({ State: 'disconnected' });
    expect(fx.destroyedSessions).toEqual([a]);
    const gone = e.ownerGone(OWNER);
    expect(gone.updates).toHaveLength(0);
    expect(gone.destroyedSessions).toEqual([b]);
    expect(e.sessions()).toHaveLength(0);
    expect(codeOf(() => e.destroySession(a, ME))).toBe('NSD_ERR_SESSION_NOT_FOUND');
  });
});

describe('OfflineMode and Technology.Powered', () => {
  it('OfflineMode takes every session to disconnected and back', () => {
    const e = setup();
    const { path } = create(e);
    let fx = e.setOfflineMode(true);
    expect(upd(fx, path)).toMatchObject({ State: 'disconnected' });
    expect(e.managerState()).toBe('offline');
    expect(fx.managerChanged.has('OfflineMode')).toBe(true);
    expect(e.setOfflineMode(true).updates).toHaveLength(0);
    fx = e.setOfflineMode(false);
    expect(upd(fx, path)).toMatchObject({ State: 'connected', Interface: 'eth0' });
  });

  it('powering a technology off moves its sessions; errors as ConnMan', () => {
    const e = setup();
    const { path } = create(e);
    const fx = e.setTechnologyPowered('ethernet', false);
    expect(upd(fx, path)).toMatchObject({ Interface: 'wlan0' });
    expect(e.technologies().find((t) => t.type === 'ethernet')).toMatchObject({ powered: false, connected: false });
    expect(codeOf(() => e.setTechnologyPowered('ethernet', false))).toBe('NSD_ERR_ALREADY_DISABLED');
    expect(codeOf(() => e.setTechnologyPowered('bluetooth', true))).toBe('NSD_ERR_TECHNOLOGY_NOT_FOUND');
    e.setTechnologyPowered('ethernet', true);
    expect(codeOf(() => e.setTechnologyPowered('ethernet', true))).toBe('NSD_ERR_ALREADY_ENABLED');
  });
});

describe('policy', () => {
  const POLICY = `[policy_alice]\nuid = alice\nAllowedBearers = cellular wifi\nConnectionType = any\n`;

  it('applies to matching sessions at creation and on reload, one Update each', () => {
    const e = setup();
    const a = create(e, {}, '/a', ':1.20', alice).path;
    const r = create(e, {}, '/r', ':1.21', ROOT).path;
    let fx = e.loadPolicy('alice.policy', POLICY);
    expect(upd(fx, a)).toMatchObject({ AllowedBearers: ['cellular', 'wifi'], Interface: 'wwan0' });
    expect(upd(fx, r)).toBeUndefined();
    const late = create(e, {}, '/late', ':1.22', alice);
    expect(upd(late.effects, late.path)).toMatchObject({ Interface: 'wwan0' });

    fx = e.loadPolicy('alice.policy', POLICY.replace('cellular wifi', ''));
    expect(upd(fx, a)).toMatchObject({ State: 'disconnected', AllowedBearers: [] });

    fx = e.removePolicy('alice.policy');
    expect(upd(fx, a)).toMatchObject({ State: 'connected', Interface: 'eth0' });
  });

  it('keeps the previous policy when a file is malformed', () => {
    const e = setup();
    e.loadPolicy('alice.policy', POLICY);
    const a = create(e, {}, '/a', ':1.20', alice).path;
    expect(codeOf(() => e.loadPolicy('alice.policy', '[broken\nuid=alice'))).toBe('NSD_ERR_POLICY_PARSE');
    expect(e.policyFiles()).toEqual(['alice.policy']);
    expect(e.sessions().find((s) => s.path === a)!.settings.AllowedBearers).toEqual(['cellular', 'wifi']);
  });

  it('a policy ConnectionType survives only while the policy does', () => {
    const e = setup();
    const a = create(e, { ConnectionType: str('local') }, '/a', ':1.20', alice).path;
    e.loadPolicy('p.policy', '[p]\nuid=1001\nConnectionType=internet\n');
    expect(e.sessions()[0]!.settings.ConnectionType).toBe('internet');
    const fx = e.removePolicy('p.policy');
    expect(upd(fx, a)).toMatchObject({ ConnectionType: 'local', State: 'connected' });
  });

  it('policy identity claims reach the kernel state', () => {
    const e = setup();
    e.loadPolicy('alice.policy', POLICY);
    create(e, {}, '/a', ':1.20', alice);
    const k = e.kernelState();
    expect(k.firewall.classifiers).toEqual([{ kind: 'uid', key: '1001', sessionKey: 's1' }]);
    const wwan = e.services().find((s) => s.ifname === 'wwan0')!;
    expect(k.firewall.sessions[0]).toMatchObject({ sessionKey: 's1', mark: wwan.alloc!.mark, ifname: 'wwan0' });
  });
});

describe('emergency call', () => {
  it('an active emergency session blocks others; destroying it clears the block', () => {
    const e = setup();
    e.loadPolicy('e.policy', '[e]\nuid=alice\nEmergencyCall=true\n');
    const em = create(e, {}, '/em', ':1.30', alice).path;
    const other = create(e, {}, '/o', ':1.31', ROOT).path;
    e.connect(em, { owner: ':1.30', uid: 1001 });
    expect(codeOf(() => e.connect(other, { owner: ':1.31', uid: 0 }))).toBe('NSD_ERR_EMERGENCY_BUSY');
    expect(codeOf(() => create(e, {}, '/p', ':1.32', ROOT))).toBe('NSD_ERR_EMERGENCY_BUSY');
    e.destroySession(em, { owner: ':1.30', uid: 1001 });
    e.connect(other, { owner: ':1.31', uid: 0 });
    create(e, {}, '/p', ':1.32', ROOT);
  });
});
