/**
 * Metered uplinks and AvoidMetered (daemon/core/service-traits.ts, selection.ts), and what a
 * provisioning file says about observed links (nameservers, Metered, Roaming).
 *
 * | input                                                     | expected                                                  |
 * |-----------------------------------------------------------|-----------------------------------------------------------|
 * | links eth0/wlan0/wwan0, no provisioning                   | wwan0 (cellular) metered, the others not                  |
 * | AvoidMetered session preferring cellular, wlan0 up        | bound to wlan0 (unmetered first, whatever the order)      |
 * | only wwan0 left                                           | bound to wwan0 (nothing else is up)                       |
 * | wlan0 back                                                | moves off wwan0 to wlan0 in one Update                    |
 * | provisioning `Metered = false` for wwan0, `true` for wlan0 | the session moves to wwan0; traits follow; file removed: back |
 * | AvoidMetered with a wrong type                            | WrongType, nothing changed                                |
 * | status dict of a service with a portal                    | Metered/Roaming/CaptivePortal/PortalURL                   |
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../../daemon/core/engine.js';
import { serviceProps } from '../../../../daemon/core/properties.js';
import { serviceStatusProps, withObservedNameservers } from '../../../../daemon/core/service-traits.js';
import { codeOf } from '../../../fakes/errors.js';
import { as, bool, ROOT, str, uplink } from '../../../fakes/links.js';

const ME = { owner: ':1.7', uid: 0 };

function setup(): Engine {
  const e = new Engine();
  e.linkChanged(uplink(2, 'eth0', 'ethernet'));
  e.linkChanged(uplink(3, 'wlan0', 'wifi'));
  e.linkChanged(uplink(4, 'wwan0', 'cellular'));
  return e;
}

const byName = (e: Engine, n: string) => e.services().find((s) => s.ifname === n)!;
const iface = (e: Engine, path: string) => e.sessions().find((s) => s.path === path)!.settings.Interface;

describe('metered uplinks and AvoidMetered', () => {
  it('cellular is metered by default; an AvoidMetered session keeps off it unless nothing else is up', () => {
    const e = setup();
    expect(e.services().map((s) => [s.ifname, s.metered])).toEqual([
      ['eth0', false],
      ['wlan0', false],
      ['wwan0', true],
    ]);
    const settings = { AllowedBearers: as(['cellular', 'wifi']), AvoidMetered: bool(true) };
    const { path } = e.createSession({ owner: ME.owner, notifier: '/n1', identity: ROOT, settings });
    expect(iface(e, path)).toBe('wlan0');
    // Without AvoidMetered the same bearers pick cellular (the user's order).
    const plain = e.createSession({
      owner: ME.owner,
      notifier: '/n2',
      identity: ROOT,
      settings: { AllowedBearers: as(['cellular', 'wifi']) },
    });
    expect(iface(e, plain.path)).toBe('wwan0');

    e.linkChanged(uplink(3, 'wlan0', 'wifi', { carrier: false }));
    expect(iface(e, path)).toBe('wwan0');
    const fx = e.linkChanged(uplink(3, 'wlan0', 'wifi'));
    expect(iface(e, path)).toBe('wlan0');
    expect(fx.updates.filter((u) => u.path === path)).toHaveLength(1);

    // Change() turns it off: back to the user's order.
    e.change(path, ME, 'AvoidMetered', bool(false));
    expect(iface(e, path)).toBe('wwan0');
    expect(codeOf(() => e.change(path, ME, 'AvoidMetered', str('yes')))).toBe('NSD_ERR_WRONG_TYPE');
  });

  it('a provisioning section overrides metered and roaming, and gives an observed link its nameservers', () => {
    const e = setup();
    const { path } = e.createSession({
      owner: ME.owner,
      notifier: '/n1',
      identity: ROOT,
      settings: { AllowedBearers: as(['wifi', 'cellular']), AvoidMetered: bool(true) },
    });
    expect(iface(e, path)).toBe('wlan0');
    const file = [
      '[service_cell]',
      'Type = cellular',
      'DeviceName = wwan0',
      'Metered = false',
      'Roaming = true',
      'Nameservers = 198.51.100.25,2001:db8:3::1',
      '[service_wifi]',
      'Type = wifi',
      'DeviceName = wlan0',
      'Metered = true',
      '',
    ].join('\n');
    const fx = e.loadProvisioning('uplinks.config', file);
    expect(byName(e, 'wwan0')).toMatchObject({ metered: false, roaming: true });
    expect(byName(e, 'wlan0')).toMatchObject({ metered: true, roaming: false });
    expect(iface(e, path)).toBe('wwan0');
    expect(fx.changedServices.has(byName(e, 'wwan0').id)).toBe(true);

    const cell = byName(e, 'wwan0');
    const props = withObservedNameservers(serviceProps(cell, true), cell, e.manage.sectionOf(cell));
    expect(props.Nameservers).toEqual({ signature: 'as', value: ['198.51.100.25', '2001:db8:3::1'] });
    expect(props['Nameservers.Configuration']).toEqual({ signature: 'as', value: ['198.51.100.25', '2001:db8:3::1'] });
    // eth0 has no section: its properties stay as the link facts give them.
    const eth = byName(e, 'eth0');
    expect(withObservedNameservers(serviceProps(eth, true), eth, e.manage.sectionOf(eth)).Nameservers).toEqual({
      signature: 'as',
      value: [],
    });

    e.removeProvisioning('uplinks.config');
    expect(byName(e, 'wwan0')).toMatchObject({ metered: true, roaming: false });
    expect(iface(e, path)).toBe('wlan0');
  });

  it('the status dict says metered, roaming and the portal', () => {
    const e = setup();
    const wifi = byName(e, 'wlan0');
    e.onlineStatus(wifi.id, 4, { online: false, portal: 'http://portal.example/login' });
    expect(serviceStatusProps(byName(e, 'wlan0'))).toEqual({
      Metered: { signature: 'b', value: false },
      Roaming: { signature: 'b', value: false },
      CaptivePortal: { signature: 'b', value: true },
      PortalURL: { signature: 's', value: 'http://portal.example/login' },
    });
    expect(serviceStatusProps(byName(e, 'wwan0'))).toMatchObject({
      Metered: { value: true },
      CaptivePortal: { value: false },
      PortalURL: { value: '' },
    });
  });
});
