import { describe, expect, it } from 'vitest';
import {
  applyAutoDecision,
  carrierLost,
  emptyRuntime,
  type ManagedLink,
  planLinks,
  userConnect,
  userDisconnect,
} from '../../../../daemon/core/manage-actions.js';
import { defaultSettings } from '../../../../daemon/core/persisted-settings.js';
import { BEARERS, type Bearer } from '../../../../lib/protocol.js';

const ALL_POWERED = Object.fromEntries(BEARERS.map((b) => [b, true])) as Record<Bearer, boolean>;
const LINKS: ManagedLink[] = [
  { serviceId: 'wifi', ifindex: 4, bearer: 'wifi' },
  { serviceId: 'eth', ifindex: 2, bearer: 'ethernet' },
];

describe('user actions', () => {
  it('Connect sets reason user, Favorite, and AutoConnect for a new entry', () => {
    const { rt, settings } = userConnect(emptyRuntime(), defaultSettings(), 'eth');
    expect(rt.reasons.get('eth')).toBe('user');
    expect(settings.services.eth).toEqual({ favorite: true, autoConnect: true });
  });

  it('Connect keeps an explicit AutoConnect=false', () => {
    const base = { ...defaultSettings(), services: { eth: { favorite: false, autoConnect: false } } };
    expect(userConnect(emptyRuntime(), base, 'eth').settings.services.eth).toEqual({
      favorite: true,
      autoConnect: false,
    });
  });

  it('Connect on a favorite returns the same settings object (nothing to persist)', () => {
    const base = { ...defaultSettings(), services: { eth: { favorite: true, autoConnect: true } } };
    expect(userConnect(emptyRuntime(), base, 'eth').settings).toBe(base);
  });

  it('Disconnect clears the reason, marks user-disconnected and leaves settings alone', () => {
    const { rt } = userConnect(emptyRuntime(), defaultSettings(), 'eth');
    const after = userDisconnect(rt, 'eth');
    expect(after.reasons.has('eth')).toBe(false);
    expect(after.userDisconnected.has('eth')).toBe(true);
    expect(rt.reasons.get('eth')).toBe('user'); // inputs are not mutated
  });

  it('Connect after Disconnect clears the user-disconnected mark', () => {
    const rt = userDisconnect(emptyRuntime(), 'eth');
    expect(userConnect(rt, defaultSettings(), 'eth').rt.userDisconnected.has('eth')).toBe(false);
  });

  it('losing carrier clears the user-disconnected mark', () => {
    expect(carrierLost(userDisconnect(emptyRuntime(), 'eth'), 'eth').userDisconnected.has('eth')).toBe(false);
  });

  it('applies autoconnect decisions to the reasons', () => {
    let rt = applyAutoDecision(emptyRuntime(), {
      connect: [
        { id: 'eth', reason: 'session' },
        { id: 'wifi', reason: 'auto' },
      ],
      disconnect: [],
      retag: [],
    });
    rt = applyAutoDecision(rt, { connect: [], disconnect: [{ id: 'wifi' }], retag: [{ id: 'eth', reason: 'auto' }] });
    expect([...rt.reasons]).toEqual([['eth', 'auto']]);
  });
});

describe('planLinks', () => {
  it('keeps links of enabled technologies up and configures only services with a reason', () => {
    const rt = applyAutoDecision(emptyRuntime(), {
      connect: [{ id: 'eth', reason: 'auto' }],
      disconnect: [],
      retag: [],
    });
    expect(planLinks(LINKS, { powered: ALL_POWERED, offlineMode: false }, rt)).toEqual([
      { ifindex: 2, serviceId: 'eth', adminUp: true, configured: true },
      { ifindex: 4, serviceId: 'wifi', adminUp: true, configured: false },
    ]);
  });

  it("Powered=false takes that technology's links down and unconfigured, and Powered=true restores them", () => {
    const rt = applyAutoDecision(emptyRuntime(), {
      connect: [{ id: 'eth', reason: 'user' }],
      disconnect: [],
      retag: [],
    });
    const off = planLinks(LINKS, { powered: { ...ALL_POWERED, ethernet: false }, offlineMode: false }, rt);
    expect(off.find((p) => p.serviceId === 'eth')).toEqual({
      ifindex: 2,
      serviceId: 'eth',
      adminUp: false,
      configured: false,
    });
    expect(off.find((p) => p.serviceId === 'wifi')?.adminUp).toBe(true);
    const on = planLinks(LINKS, { powered: ALL_POWERED, offlineMode: false }, rt);
    expect(on.find((p) => p.serviceId === 'eth')).toEqual({
      ifindex: 2,
      serviceId: 'eth',
      adminUp: true,
      configured: true,
    });
  });

  it('OfflineMode takes every managed link down', () => {
    const plan = planLinks(LINKS, { powered: ALL_POWERED, offlineMode: true }, emptyRuntime());
    expect(plan.map((p) => p.adminUp)).toEqual([false, false]);
  });
});
