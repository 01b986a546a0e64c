import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../../daemon/core/engine.js';
import { eligible } from '../../../../daemon/core/selection.js';
import type { LinkFacts } from '../../../../daemon/core/services.js';
import { BEARERS, type Bearer, CONNECTION_TYPES } from '../../../../lib/protocol.js';
import { as, ROOT, str, uplink } from '../../../fakes/links.js';

const NAMES = ['eth0', 'eth1', 'wlan0', 'wwan0', 'usb0'];
const linkArb = fc.record({
  ifindex: fc.integer({ min: 2, max: 6 }),
  bearer: fc.constantFrom<Bearer>(...BEARERS),
  carrier: fc.boolean(),
  hasV4: fc.boolean(),
});
const eventArb = fc.oneof(
  linkArb.map((l) => ({ kind: 'link' as const, ...l })),
  fc.record({ kind: fc.constant('remove' as const), ifindex: fc.integer({ min: 2, max: 6 }) }),
  fc.record({ kind: fc.constant('online' as const), ifindex: fc.integer({ min: 2, max: 6 }), online: fc.boolean() }),
);
const sessionArb = fc.record({
  bearers: fc.uniqueArray(fc.constantFrom<string>(...BEARERS, '*'), { maxLength: 4 }),
  type: fc.constantFrom(...CONNECTION_TYPES),
  iface: fc.option(fc.constantFrom(...NAMES), { nil: null }),
});

function facts(l: { ifindex: number; bearer: Bearer; carrier: boolean; hasV4: boolean }): LinkFacts {
  return uplink(l.ifindex, NAMES[l.ifindex - 2]!, l.bearer, { carrier: l.carrier, v4: l.hasV4 ? undefined : null });
}

type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;

function play(events: Of<typeof eventArb>[], sessions: Of<typeof sessionArb>[], createFirst: boolean) {
  const e = new Engine();
  const mk = () =>
    sessions.forEach((s, i) =>
      e.createSession({
        owner: ':1.1',
        notifier: `/s${i}`,
        identity: ROOT,
        settings: { AllowedBearers: as(s.bearers), ConnectionType: str(s.type), AllowedInterface: str(s.iface ?? '*') },
      }),
    );
  if (createFirst) mk();
  for (const ev of events) {
    if (ev.kind === 'link') e.linkChanged(facts(ev));
    else if (ev.kind === 'remove') e.linkRemoved(ev.ifindex);
    else {
      const svc = e.services().find((s) => s.ifindex === ev.ifindex);
      if (svc) e.onlineStatus(svc.id, 4, { online: ev.online, portal: null });
    }
  }
  if (!createFirst) mk();
  return e;
}

describe('selection invariants (property-based)', () => {
  it('every bound service is eligible and allowed, and no allowed eligible service has a better bearer', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 25 }),
        fc.array(sessionArb, { minLength: 1, maxLength: 5 }),
        (events, sessions) => {
          const e = play(events, sessions, true);
          for (const info of e.sessions()) {
            const eff = info.settings;
            const candidates = e
              .services()
              .filter(
                (s) =>
                  eligible(s.state, eff.ConnectionType as 'any') &&
                  eff.AllowedBearers.includes(s.bearer) &&
                  (eff.AllowedInterface === '*' || eff.AllowedInterface === s.ifname),
              );
            if (info.serviceId === null) {
              expect(candidates).toEqual([]);
              expect(eff.State).toBe('disconnected');
              continue;
            }
            const bound = e.services().find((s) => s.id === info.serviceId)!;
            expect(candidates).toContain(bound);
            const rank = (b: Bearer) => eff.AllowedBearers.indexOf(b);
            for (const c of candidates) expect(rank(c.bearer)).toBeGreaterThanOrEqual(rank(bound.bearer));
            expect(eff.State).toBe(bound.state === 'online' ? 'online' : 'connected');
            expect(eff.Interface).toBe(bound.ifname);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the binding depends on the network, not on whether sessions came before or after the events', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 25 }),
        fc.array(sessionArb, { minLength: 1, maxLength: 5 }),
        (events, sessions) => {
          const a = play(events, sessions, true)
            .sessions()
            .map((s) => s.settings);
          const b = play(events, sessions, false)
            .sessions()
            .map((s) => s.settings);
          expect(a).toEqual(b);
        },
      ),
      { numRuns: 300 },
    );
  });
});
