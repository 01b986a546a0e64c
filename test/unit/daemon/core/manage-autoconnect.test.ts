import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ActiveSession,
  type AutoInput,
  type AutoService,
  decideAutoconnect,
} from '../../../../daemon/core/manage-autoconnect.js';
import { BEARERS, type Bearer, SERVICE_STATES, type ServiceState } from '../../../../lib/protocol.js';

const ALL_POWERED = Object.fromEntries(BEARERS.map((b) => [b, true])) as Record<Bearer, boolean>;

function s(id: string, bearer: Bearer, state: ServiceState = 'idle', extra: Partial<AutoService> = {}): AutoService {
  return { id, bearer, state, favorite: true, autoConnect: true, managed: true, connectReason: null, ...extra };
}
function sess(id: string, bearers: Bearer[], boundTo: string | null = null): ActiveSession {
  return { id, bearers, boundTo };
}
function input(services: AutoService[], extra: Partial<AutoInput> = {}): AutoInput {
  return {
    services,
    powered: ALL_POWERED,
    offlineMode: false,
    singleConnectedTechnology: false,
    alwaysConnected: [],
    sessions: [],
    ...extra,
  };
}
const NONE = { connect: [], disconnect: [], retag: [] };

describe('decideAutoconnect', () => {
  describe('row 6: general autoconnect', () => {
    it('connects the best-ranked candidate when nothing is up', () => {
      expect(decideAutoconnect(input([s('eth', 'ethernet'), s('wifi', 'wifi')]))).toEqual({
        ...NONE,
        connect: [{ id: 'eth', reason: 'auto' }],
      });
    });
    it('connects nothing more once one service is up (connecting counts)', () => {
      expect(decideAutoconnect(input([s('eth', 'ethernet', 'configuration'), s('wifi', 'wifi')]))).toEqual(NONE);
      expect(decideAutoconnect(input([s('wifi', 'wifi', 'ready'), s('cell', 'cellular')]))).toEqual(NONE);
    });
    it('skips services that are not favorite, not AutoConnect, or in failure', () => {
      const out = decideAutoconnect(
        input([
          s('a', 'ethernet', 'idle', { favorite: false }),
          s('b', 'ethernet', 'idle', { autoConnect: false }),
          s('c', 'ethernet', 'failure'),
          s('d', 'wifi'),
        ]),
      );
      expect(out.connect).toEqual([{ id: 'd', reason: 'auto' }]);
    });
    it('skips a service the user disconnected, for sessions too', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'idle', { userDisconnected: true }), s('wifi', 'wifi')], {
          sessions: [sess('x', ['ethernet'])],
        }),
      );
      expect(out.connect).toEqual([{ id: 'wifi', reason: 'auto' }]);
    });
    it('is idempotent: applying the decision leaves nothing more to do', () => {
      expect(
        decideAutoconnect(input([s('eth', 'ethernet', 'association', { connectReason: 'auto' }), s('wifi', 'wifi')])),
      ).toEqual(NONE);
    });
  });

  describe('sessions restricted by AllowedInterface', () => {
    it('brings up the named interface even though another service of an allowed bearer is up, and holds only it', () => {
      const services = [
        s('eth', 'ethernet', 'ready', { ifname: 'eth0', connectReason: 'auto' }),
        s('cell1', 'cellular', 'idle', { ifname: 'wwan0' }),
        s('cell2', 'cellular', 'idle', { ifname: 'wwan1' }),
      ];
      const session: ActiveSession = {
        id: 'x',
        bearers: ['ethernet', 'cellular'],
        boundTo: null,
        allowedInterface: 'wwan1',
      };
      expect(decideAutoconnect(input(services, { sessions: [session] }))).toEqual({
        ...NONE,
        connect: [{ id: 'cell2', reason: 'session' }],
      });
      // Once up for the session, the restricted session holds it; a session on another interface would not.
      const up = [
        services[0]!,
        services[1]!,
        s('cell2', 'cellular', 'configuration', { ifname: 'wwan1', connectReason: 'session' }),
      ];
      expect(decideAutoconnect(input(up, { sessions: [session] }))).toEqual(NONE);
      const other: ActiveSession = { ...session, allowedInterface: 'wwan0', boundTo: 'none-yet' };
      expect(decideAutoconnect(input(up, { sessions: [other] })).disconnect).toEqual([
        { id: 'cell2', why: 'session-released' },
      ]);
    });
  });

  describe('available: a link without carrier is never a candidate', () => {
    it('skips an unplugged wired candidate and connects the next one', () => {
      const out = decideAutoconnect(
        input([s('eth1', 'ethernet', 'idle', { available: false }), s('eth2', 'ethernet'), s('wifi', 'wifi')]),
      );
      expect(out).toEqual({ ...NONE, connect: [{ id: 'eth2', reason: 'auto' }] });
    });
    it('skips it in the general rule too (SingleConnectedTechnology, where the wired row is off)', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'idle', { available: false }), s('wifi', 'wifi')], {
          singleConnectedTechnology: true,
        }),
      );
      expect(out).toEqual({ ...NONE, connect: [{ id: 'wifi', reason: 'auto' }] });
    });
    it('treats an absent flag as available and an explicit true the same', () => {
      expect(decideAutoconnect(input([s('eth', 'ethernet', 'idle', { available: true })])).connect).toEqual([
        { id: 'eth', reason: 'auto' },
      ]);
      expect(decideAutoconnect(input([s('eth', 'ethernet')])).connect).toEqual([{ id: 'eth', reason: 'auto' }]);
    });
    it('does not keep a released session service that lost carrier', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'ready', { connectReason: 'session', available: false }), s('wifi', 'wifi')]),
      );
      expect(out).toEqual({
        connect: [{ id: 'wifi', reason: 'auto' }],
        disconnect: [{ id: 'eth', why: 'session-released' }],
        retag: [],
      });
    });
  });

  describe('row 3a: wired connect-on-plug', () => {
    it('connects every wired candidate (ethernet and gadget) and then no cellular by the general rule', () => {
      const out = decideAutoconnect(input([s('eth', 'ethernet'), s('cell', 'cellular'), s('usb', 'gadget')]));
      expect(out).toEqual({
        ...NONE,
        connect: [
          { id: 'eth', reason: 'auto' },
          { id: 'usb', reason: 'auto' },
        ],
      });
    });
    it('connects a wired candidate even when another service is already up', () => {
      const out = decideAutoconnect(input([s('wifi', 'wifi', 'online'), s('eth', 'ethernet'), s('cell', 'cellular')]));
      expect(out).toEqual({ ...NONE, connect: [{ id: 'eth', reason: 'auto' }] });
    });
    it('connects only one service under SingleConnectedTechnology (rows 5 and 6 as usual)', () => {
      const out = decideAutoconnect(
        input([s('eth1', 'ethernet'), s('eth2', 'ethernet'), s('cell', 'cellular')], {
          singleConnectedTechnology: true,
        }),
      );
      expect(out).toEqual({ ...NONE, connect: [{ id: 'eth1', reason: 'auto' }] });
    });
    it('falls back to cellular by the general rule when every wired link is unplugged', () => {
      const out = decideAutoconnect(
        input([
          s('eth1', 'ethernet', 'idle', { available: false }),
          s('usb', 'gadget', 'idle', { available: false }),
          s('cell', 'cellular'),
        ]),
      );
      expect(out).toEqual({ ...NONE, connect: [{ id: 'cell', reason: 'auto' }] });
    });
    it('skips wired services that are not candidates', () => {
      const out = decideAutoconnect(
        input([
          s('a', 'ethernet', 'idle', { favorite: false }),
          s('b', 'ethernet', 'idle', { autoConnect: false }),
          s('c', 'ethernet', 'idle', { userDisconnected: true }),
          s('d', 'ethernet', 'failure'),
          s('e', 'ethernet', 'idle', { managed: false }),
          s('f', 'gadget'),
        ]),
      );
      expect(out.connect).toEqual([{ id: 'f', reason: 'auto' }]);
    });
    it('never connects a wired service of a disabled technology', () => {
      const powered = { ...ALL_POWERED, ethernet: false };
      expect(decideAutoconnect(input([s('eth', 'ethernet'), s('cell', 'cellular')], { powered })).connect).toEqual([
        { id: 'cell', reason: 'auto' },
      ]);
    });
    it('runs before the session row: a session allowing a wired bearer finds it up', () => {
      const out = decideAutoconnect(
        input([s('wifi', 'wifi'), s('eth', 'ethernet')], { sessions: [sess('x', ['wifi', 'ethernet'])] }),
      );
      expect(out).toEqual({ ...NONE, connect: [{ id: 'eth', reason: 'auto' }] });
    });
    it('keeps a released session-connected wired service as auto instead of taking it down', () => {
      const out = decideAutoconnect(
        input([s('cell', 'cellular', 'online'), s('eth', 'ethernet', 'ready', { connectReason: 'session' })]),
      );
      expect(out).toEqual({ ...NONE, retag: [{ id: 'eth', reason: 'auto' }] });
    });
    it('does not stop an always-connected technology', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet'), s('cell', 'cellular'), s('wifi', 'wifi')], { alwaysConnected: ['cellular'] }),
      );
      expect(out).toEqual({
        ...NONE,
        connect: [
          { id: 'eth', reason: 'auto' },
          { id: 'cell', reason: 'auto' },
        ],
      });
    });
  });

  describe('row 1: observed services', () => {
    it('never connects an observed service', () => {
      expect(
        decideAutoconnect(input([s('eth', 'ethernet', 'idle', { managed: false }), s('wifi', 'wifi')])).connect,
      ).toEqual([{ id: 'wifi', reason: 'auto' }]);
    });
    it('does not count an observed up service against the general rule (another tool owns it)', () => {
      expect(
        decideAutoconnect(input([s('obs', 'ethernet', 'ready', { managed: false }), s('wifi', 'wifi')])).connect,
      ).toEqual([{ id: 'wifi', reason: 'auto' }]);
    });
    it('never disconnects an observed service, even under SingleConnectedTechnology', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'ready'), s('obs', 'wifi', 'ready', { managed: false })], {
          singleConnectedTechnology: true,
        }),
      );
      expect(out).toEqual(NONE);
    });
  });

  describe('row 2: disabled technologies', () => {
    it('never connects a service whose technology is not powered', () => {
      const powered = { ...ALL_POWERED, ethernet: false };
      expect(decideAutoconnect(input([s('eth', 'ethernet'), s('wifi', 'wifi')], { powered })).connect).toEqual([
        { id: 'wifi', reason: 'auto' },
      ]);
    });
    it('connects nothing in OfflineMode, not even for sessions', () => {
      expect(
        decideAutoconnect(input([s('eth', 'ethernet')], { offlineMode: true, sessions: [sess('x', ['ethernet'])] })),
      ).toEqual(NONE);
    });
  });

  describe('row 3 and 7: session release', () => {
    it('disconnects a session-connected service when no active session allows its bearer', () => {
      const out = decideAutoconnect(
        input([s('wifi', 'wifi', 'ready', { connectReason: 'session', autoConnect: false })], {
          sessions: [sess('x', ['cellular'])],
        }),
      );
      expect(out).toEqual({ ...NONE, disconnect: [{ id: 'wifi', why: 'session-released' }] });
    });
    it('keeps it while any active session allows the bearer', () => {
      const out = decideAutoconnect(
        input([s('wifi', 'wifi', 'ready', { connectReason: 'session' })], { sessions: [sess('y', ['wifi'])] }),
      );
      expect(out).toEqual(NONE);
    });
    it('keeps it while an active session is bound to it', () => {
      const out = decideAutoconnect(
        input([s('wifi', 'wifi', 'ready', { connectReason: 'session' })], { sessions: [sess('y', [], 'wifi')] }),
      );
      expect(out).toEqual(NONE);
    });
    it('does not release user- or auto-connected services when sessions go', () => {
      expect(
        decideAutoconnect(
          input([
            s('a', 'wifi', 'ready', { connectReason: 'user' }),
            s('b', 'ethernet', 'ready', { connectReason: 'auto' }),
          ]),
        ),
      ).toEqual(NONE);
    });
    it('row 7: retags instead of releasing when the general rule would connect it anyway', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'ready', { connectReason: 'session' }), s('wifi', 'wifi')]),
      );
      expect(out).toEqual({ ...NONE, retag: [{ id: 'eth', reason: 'auto' }] });
    });
    it('row 7: releases when the general rule prefers another service', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet'), s('wifi', 'wifi', 'ready', { connectReason: 'session' })]),
      );
      expect(out).toEqual({
        connect: [{ id: 'eth', reason: 'auto' }],
        disconnect: [{ id: 'wifi', why: 'session-released' }],
        retag: [],
      });
    });
  });

  describe('row 4: session connect', () => {
    it('brings up a service for an unbound active session in AllowedBearers order, reason session', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'ready'), s('wifi', 'wifi'), s('cell', 'cellular')], {
          sessions: [sess('x', ['cellular', 'wifi'])],
        }),
      );
      expect(out).toEqual({ ...NONE, connect: [{ id: 'cell', reason: 'session' }] });
    });
    it('falls back to the next allowed bearer when the first has no candidate', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'ready'), s('wifi', 'wifi'), s('cell', 'cellular', 'failure')], {
          sessions: [sess('x', ['cellular', 'wifi'])],
        }),
      );
      expect(out.connect).toEqual([{ id: 'wifi', reason: 'session' }]);
    });
    it('does nothing for a bound session', () => {
      expect(
        decideAutoconnect(
          input([s('eth', 'ethernet', 'ready'), s('wifi', 'wifi')], { sessions: [sess('x', ['wifi'], 'eth')] }),
        ),
      ).toEqual(NONE);
    });
    it('does nothing when a matching service is already up (it will bind to it), observed ones included', () => {
      expect(
        decideAutoconnect(
          input([s('eth', 'ethernet', 'ready'), s('w1', 'wifi', 'configuration'), s('w2', 'wifi')], {
            sessions: [sess('x', ['wifi'])],
          }),
        ),
      ).toEqual(NONE);
      expect(
        decideAutoconnect(
          input([s('eth', 'ethernet', 'ready'), s('w1', 'wifi', 'ready', { managed: false }), s('w2', 'wifi')], {
            sessions: [sess('x', ['wifi'])],
          }),
        ),
      ).toEqual(NONE);
    });
    it('brings up one service for two sessions wanting the same bearer', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'ready'), s('w1', 'wifi'), s('w2', 'wifi')], {
          sessions: [sess('x', ['wifi']), sess('y', ['wifi'])],
        }),
      );
      expect(out.connect).toEqual([{ id: 'w1', reason: 'session' }]);
    });
    it('does not bring up a non-favorite or AutoConnect=false service for a session', () => {
      const out = decideAutoconnect(
        input(
          [
            s('eth', 'ethernet', 'ready'),
            s('w1', 'wifi', 'idle', { autoConnect: false }),
            s('w2', 'wifi', 'idle', { favorite: false }),
          ],
          { sessions: [sess('x', ['wifi'])] },
        ),
      );
      expect(out).toEqual(NONE);
    });
    it('a session pick satisfies the general rule too (no second connect)', () => {
      const out = decideAutoconnect(
        input([s('cell', 'cellular'), s('wifi', 'wifi')], { sessions: [sess('x', ['wifi'])] }),
      );
      expect(out.connect).toEqual([{ id: 'wifi', reason: 'session' }]);
    });
    it('skips an unavailable (no carrier) service and takes the next allowed one', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'ready'), s('w1', 'wifi', 'idle', { available: false }), s('w2', 'wifi')], {
          sessions: [sess('x', ['wifi'])],
        }),
      );
      expect(out.connect).toEqual([{ id: 'w2', reason: 'session' }]);
    });
  });

  describe('row 5: AlwaysConnectedTechnologies', () => {
    it('connects one service of each always-connected technology even when another is up', () => {
      const out = decideAutoconnect(
        input([s('eth', 'ethernet', 'online'), s('c1', 'cellular'), s('c2', 'cellular'), s('wifi', 'wifi')], {
          alwaysConnected: ['cellular'],
        }),
      );
      expect(out).toEqual({ ...NONE, connect: [{ id: 'c1', reason: 'auto' }] });
    });
    it('an up always-connected service does not stop the general rule', () => {
      const out = decideAutoconnect(
        input([s('cell', 'cellular', 'ready'), s('eth', 'ethernet')], { alwaysConnected: ['cellular'] }),
      );
      expect(out.connect).toEqual([{ id: 'eth', reason: 'auto' }]);
    });
  });

  describe('row 8: SingleConnectedTechnology', () => {
    it('disconnects up services of other technologies than the first connected one', () => {
      const out = decideAutoconnect(
        input(
          [
            s('eth', 'ethernet', 'online'),
            s('eth2', 'ethernet', 'ready'),
            s('wifi', 'wifi', 'ready', { connectReason: 'user' }),
            s('bt', 'bluetooth', 'configuration'),
          ],
          {
            singleConnectedTechnology: true,
          },
        ),
      );
      expect(out).toEqual({
        ...NONE,
        disconnect: [
          { id: 'wifi', why: 'single-technology' },
          { id: 'bt', why: 'single-technology' },
        ],
      });
    });
    it('spares AlwaysConnected technologies and services a session holds', () => {
      const out = decideAutoconnect(
        input(
          [
            s('eth', 'ethernet', 'online'),
            s('cell', 'cellular', 'ready'),
            s('wifi', 'wifi', 'ready', { connectReason: 'session' }),
          ],
          {
            singleConnectedTechnology: true,
            alwaysConnected: ['cellular'],
            sessions: [sess('x', ['wifi'], 'wifi')],
          },
        ),
      );
      expect(out).toEqual(NONE);
    });
    it('spares a service of a bearer an active session allows, whatever its connect reason (else row 4 would reconnect it)', () => {
      const out = decideAutoconnect(
        input(
          [
            s('cell', 'cellular', 'online'),
            s('eth', 'ethernet', 'ready', { connectReason: 'auto' }),
            s('wifi', 'wifi', 'ready'),
          ],
          {
            singleConnectedTechnology: true,
            sessions: [sess('x', ['ethernet'])],
          },
        ),
      );
      expect(out).toEqual({ ...NONE, disconnect: [{ id: 'wifi', why: 'single-technology' }] });
    });
    it('keeps the first connected non-always technology even when an always one ranks higher', () => {
      const out = decideAutoconnect(
        input([s('cell', 'cellular', 'online'), s('eth', 'ethernet', 'ready'), s('wifi', 'wifi', 'ready')], {
          singleConnectedTechnology: true,
          alwaysConnected: ['cellular'],
        }),
      );
      expect(out).toEqual({ ...NONE, disconnect: [{ id: 'wifi', why: 'single-technology' }] });
    });
    it('does nothing while only connecting services exist', () => {
      expect(
        decideAutoconnect(
          input([s('eth', 'ethernet', 'configuration'), s('wifi', 'wifi', 'association')], {
            singleConnectedTechnology: true,
          }),
        ),
      ).toEqual(NONE);
    });
    it('is off by default', () => {
      expect(decideAutoconnect(input([s('eth', 'ethernet', 'online'), s('wifi', 'wifi', 'ready')]))).toEqual(NONE);
    });
  });

  it('orders every output list by the input ranking', () => {
    const out = decideAutoconnect(
      input([s('w', 'wifi'), s('c', 'cellular'), s('b', 'bluetooth')], { alwaysConnected: ['bluetooth', 'cellular'] }),
    );
    expect(out.connect.map((c) => c.id)).toEqual(['w', 'c', 'b']);
  });

  it('property: applying a decision and deciding again changes nothing (no flapping between rules)', () => {
    const bearer = fc.constantFrom<Bearer>('ethernet', 'gadget', 'wifi', 'cellular', 'bluetooth');
    const connectReason = fc.constantFrom(null, 'user' as const, 'auto' as const, 'session' as const);
    const available = fc.constantFrom(undefined, true, false);
    const anySvc = fc.record({
      bearer,
      state: fc.constantFrom<ServiceState>(...SERVICE_STATES),
      favorite: fc.boolean(),
      autoConnect: fc.boolean(),
      managed: fc.boolean(),
      connectReason,
      available,
      userDisconnected: fc.boolean(),
    });
    // Candidates are rare among arbitrary services; without these, rows 3a-6 would seldom fire.
    const candidateSvc = fc.record({
      bearer,
      state: fc.constant<ServiceState>('idle'),
      favorite: fc.constant(true),
      autoConnect: fc.constant(true),
      managed: fc.constant(true),
      connectReason,
      available,
    });
    const svcArb = fc.oneof(anySvc, candidateSvc);
    const arb = fc.record({
      services: fc.array(svcArb, { maxLength: 7 }),
      sessions: fc.array(
        fc.record({
          bearers: fc.subarray(['ethernet', 'gadget', 'wifi', 'cellular', 'bluetooth'] as Bearer[]),
          bound: fc.nat(4),
        }),
        { maxLength: 3 },
      ),
      single: fc.boolean(),
      always: fc.subarray(['wifi', 'cellular'] as Bearer[]),
      offline: fc.boolean(),
      unpowered: fc.subarray(['ethernet', 'gadget', 'wifi', 'cellular', 'bluetooth'] as Bearer[]),
    });
    // Runs where the wired row connected more than one service: the property must exercise it.
    let wiredRuns = 0;
    fc.assert(
      fc.property(arb, (g) => {
        const services = g.services.map((x, i) => ({ id: `s${i}`, ...x }));
        const sessions = g.sessions.map((x, i) => {
          // A session can only be bound to a connected service it allows.
          const target = services[x.bound];
          const ok =
            target && (target.state === 'ready' || target.state === 'online') && x.bearers.includes(target.bearer);
          return sess(`x${i}`, x.bearers, ok ? target.id : null);
        });
        const powered = { ...ALL_POWERED, ...Object.fromEntries(g.unpowered.map((b) => [b, false])) };
        const base = {
          sessions,
          singleConnectedTechnology: g.single,
          alwaysConnected: g.always,
          offlineMode: g.offline,
          powered,
        };
        const first = decideAutoconnect(input(services, base));
        const after = services.map((x): AutoService => {
          const c = first.connect.find((d) => d.id === x.id);
          if (c) return { ...x, state: 'association', connectReason: c.reason };
          if (first.disconnect.some((d) => d.id === x.id)) return { ...x, state: 'idle', connectReason: null };
          const r = first.retag.find((d) => d.id === x.id);
          return r ? { ...x, connectReason: r.reason } : x;
        });
        // Sessions bound to a service that went down are unbound now.
        const sessionsAfter = sessions.map((x) =>
          x.boundTo && after.find((a) => a.id === x.boundTo)?.state === 'idle' ? { ...x, boundTo: null } : x,
        );
        expect(decideAutoconnect(input(after, { ...base, sessions: sessionsAfter }))).toEqual(NONE);
        // Observed services never appear in any decision.
        const touched = [...first.connect, ...first.disconnect, ...first.retag].map((d) => d.id);
        expect(touched.filter((id) => !services.find((x) => x.id === id)?.managed)).toEqual([]);
        // A service without carrier is never brought up.
        expect(first.connect.filter((c) => services.find((x) => x.id === c.id)?.available === false)).toEqual([]);
        const wired = first.connect.filter((c) =>
          ['ethernet', 'gadget'].includes(services.find((x) => x.id === c.id)?.bearer ?? ''),
        );
        if (!g.single && wired.length > 1) wiredRuns++;
      }),
      { numRuns: 2000 },
    );
    expect(wiredRuns).toBeGreaterThan(0);
  });
});
