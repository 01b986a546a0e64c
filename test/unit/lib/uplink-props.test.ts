/**
 * The uplink's properties on a session (lib/uplink-props.ts) as an app tests them with the
 * MockTransport: a portal appearing and lifting, metered uplinks and avoidMetered, and a daemon
 * without the extensions (connmand).
 *
 * | script                                              | expected                                                     |
 * |-----------------------------------------------------|--------------------------------------------------------------|
 * | setUplinks: portal on the bound uplink, then lifted  | 'captivePortal' (true, url) then (false, null); settings follow |
 * | avoidMetered, bearers [cellular, wifi]               | wifi while up; cellular only without it; back to wifi          |
 * | capabilities null (connmand)                         | metered/portal null; nameservers still; avoidMetered refused, nothing sent |
 */
import { describe, expect, it } from 'vitest';
import { createSession, ExtensionNotSupportedError, MockTransport, type MockUplink } from '../../../lib/index.js';

const wifi: MockUplink = { interface: 'wlan0', bearer: 'wifi', ipv4: '198.51.100.20', nameservers: ['198.51.100.17'] };
const cell: MockUplink = {
  interface: 'wwan0',
  bearer: 'cellular',
  ipv4: '203.0.113.9',
  nameservers: ['203.0.113.1', '2001:db8::53'],
};

describe('uplink properties with the mock', () => {
  it('a captive portal appears on the bound uplink and is lifted', async () => {
    const mock = new MockTransport({ uplinks: [wifi] });
    await using s = await createSession({ transport: mock });
    expect(s.settings).toMatchObject({
      nameservers: ['198.51.100.17'],
      metered: false,
      roaming: false,
      captivePortal: false,
      portalUrl: null,
    });
    const seen: unknown[][] = [];
    s.on('captivePortal', (portal, url) => seen.push([portal, url]));
    mock.setUplinks([{ ...wifi, state: 'connected', captivePortal: true, portalUrl: 'http://portal.example/login' }]);
    await Promise.resolve();
    expect(s.settings).toMatchObject({
      state: 'connected',
      captivePortal: true,
      portalUrl: 'http://portal.example/login',
    });
    mock.setUplinks([wifi]);
    await Promise.resolve();
    expect(seen).toEqual([
      [true, 'http://portal.example/login'],
      [false, null],
    ]);
    expect(s.state).toBe('online');
  });

  it('avoidMetered keeps the session on wifi while it is up, on cellular only without it', async () => {
    const mock = new MockTransport({ uplinks: [cell, wifi] });
    await using s = await createSession({ transport: mock, allowedBearers: ['cellular', 'wifi'], avoidMetered: true });
    expect(s.interface).toBe('wlan0');
    expect(mock.lastSession().request).toMatchObject({ AvoidMetered: true });
    mock.setUplinks([cell]);
    expect(s.settings).toMatchObject({
      interface: 'wwan0',
      metered: true,
      nameservers: ['203.0.113.1', '2001:db8::53'],
    });
    mock.setUplinks([cell, wifi]);
    expect(s.settings).toMatchObject({ interface: 'wlan0', metered: false });
    // Off again: the bearer order decides.
    await s.change({ avoidMetered: false });
    expect(s.interface).toBe('wwan0');
  });

  it('against a daemon without the extensions (connmand) metered and portals are unknown and avoidMetered is refused', async () => {
    const mock = new MockTransport({ uplinks: [cell], capabilities: null });
    await using s = await createSession({ transport: mock });
    expect(s.settings).toMatchObject({
      nameservers: ['203.0.113.1', '2001:db8::53'],
      metered: null,
      roaming: null,
      captivePortal: null,
      portalUrl: null,
    });
    const calls = mock.calls.length;
    await expect(createSession({ transport: mock, avoidMetered: true })).rejects.toBeInstanceOf(
      ExtensionNotSupportedError,
    );
    await expect(s.change({ avoidMetered: true })).rejects.toMatchObject({ feature: 'AvoidMetered' });
    expect(mock.calls.slice(calls).map((c) => c.method)).toEqual(['GetCapabilities', 'GetCapabilities']);
  });
});
