import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareForDefault,
  desiredDefaultRoutes,
  lowPriorityMetric,
  type RankedService,
  type RouteService,
} from '../../../../daemon/core/manage-routes.js';
import type { Family } from '../../../../daemon/core/services.js';
import { type Bearer, SERVICE_STATES, type ServiceState } from '../../../../lib/protocol.js';

function svc(
  id: string,
  ifindex: number,
  state: ServiceState,
  gw4: string | null,
  gw6: string | null = null,
): RouteService {
  const gateways: { family: Family; gateway: string }[] = [];
  if (gw4) gateways.push({ family: 4, gateway: gw4 });
  if (gw6) gateways.push({ family: 6, gateway: gw6 });
  return { id, ifindex, state, gateways };
}

describe('lowPriorityMetric', () => {
  it('is UINT32_MAX - 1024*ifindex (ConnMan)', () => {
    expect(lowPriorityMetric(2)).toBe(4294967295 - 2048);
    expect(lowPriorityMetric(3)).toBe(4294964223);
  });
  it('never goes below 2^20', () => {
    expect(lowPriorityMetric(4_193_279)).toBe(4294967295 - 1024 * 4_193_279);
    expect(lowPriorityMetric(4_193_280)).toBe(2 ** 20);
    expect(lowPriorityMetric(2 ** 31 - 1)).toBe(2 ** 20);
  });
});

describe('desiredDefaultRoutes', () => {
  it('gives the first connected service metric 0 and the other connected ones low priority', () => {
    const routes = desiredDefaultRoutes([
      svc('a', 3, 'online', '198.51.100.1', '2001:db8::1'),
      svc('b', 2, 'ready', '203.0.113.1', '2001:db8:1::1'),
      svc('c', 4, 'configuration', '198.18.0.1'),
      svc('d', 5, 'idle', '198.18.1.1'),
    ]);
    expect(routes).toEqual([
      { serviceId: 'a', ifindex: 3, family: 4, gateway: '198.51.100.1', metric: 0 },
      { serviceId: 'b', ifindex: 2, family: 4, gateway: '203.0.113.1', metric: lowPriorityMetric(2) },
      { serviceId: 'a', ifindex: 3, family: 6, gateway: '2001:db8::1', metric: 0 },
      { serviceId: 'b', ifindex: 2, family: 6, gateway: '2001:db8:1::1', metric: lowPriorityMetric(2) },
    ]);
  });

  it('skips services that are not connected even if they have a gateway', () => {
    expect(
      desiredDefaultRoutes([svc('c', 4, 'configuration', '198.18.0.1'), svc('f', 6, 'failure', '198.18.2.1')]),
    ).toEqual([]);
  });

  it('promotes and demotes when the ranking changes, by recomputation', () => {
    const a = svc('a', 2, 'ready', '198.51.100.1');
    const b = svc('b', 3, 'ready', '203.0.113.1');
    const metricOf = (rs: ReturnType<typeof desiredDefaultRoutes>, id: string) =>
      rs.find((r) => r.serviceId === id)?.metric;
    const before = desiredDefaultRoutes([a, b]);
    const after = desiredDefaultRoutes([b, a]);
    expect([metricOf(before, 'a'), metricOf(before, 'b')]).toEqual([0, lowPriorityMetric(3)]);
    expect([metricOf(after, 'a'), metricOf(after, 'b')]).toEqual([lowPriorityMetric(2), 0]);
  });

  it('chooses metric 0 per family: a v4-only default leaves IPv6 metric 0 to the next service', () => {
    const routes = desiredDefaultRoutes([
      svc('a', 2, 'online', '198.51.100.1'),
      svc('b', 3, 'ready', '203.0.113.1', '2001:db8::1'),
    ]);
    expect(routes.filter((r) => r.family === 6)).toEqual([
      { serviceId: 'b', ifindex: 3, family: 6, gateway: '2001:db8::1', metric: 0 },
    ]);
    expect(routes.find((r) => r.family === 4 && r.serviceId === 'b')?.metric).toBe(lowPriorityMetric(3));
  });

  it('gives a connected service without a gateway no route', () => {
    expect(desiredDefaultRoutes([svc('a', 2, 'ready', null), svc('b', 3, 'ready', '203.0.113.1')])).toEqual([
      { serviceId: 'b', ifindex: 3, family: 4, gateway: '203.0.113.1', metric: 0 },
    ]);
  });

  it('property: exactly one metric-0 route per family with a connected gateway; metrics unique per family', () => {
    const arb = fc.uniqueArray(
      fc.record({
        ifindex: fc.integer({ min: 1, max: 4_193_279 }),
        state: fc.constantFrom<ServiceState>(...SERVICE_STATES),
        v4: fc.boolean(),
        v6: fc.boolean(),
      }),
      { selector: (r) => r.ifindex, maxLength: 8 },
    );
    fc.assert(
      fc.property(arb, (rows) => {
        const ranked = rows.map((r, i) =>
          svc(`s${i}`, r.ifindex, r.state, r.v4 ? `198.18.${i}.1` : null, r.v6 ? `2001:db8:${i}::1` : null),
        );
        const routes = desiredDefaultRoutes(ranked);
        for (const family of [4, 6] as const) {
          const fam = routes.filter((r) => r.family === family);
          const connectedWithGw = ranked.filter(
            (s) => (s.state === 'ready' || s.state === 'online') && s.gateways.some((g) => g.family === family),
          );
          expect(fam.length).toBe(connectedWithGw.length);
          expect(fam.filter((r) => r.metric === 0).length).toBe(connectedWithGw.length > 0 ? 1 : 0);
          expect(new Set(fam.map((r) => r.metric)).size).toBe(fam.length);
          // The metric-0 route belongs to the best-ranked eligible service.
          if (connectedWithGw[0]) expect(fam.find((r) => r.metric === 0)?.serviceId).toBe(connectedWithGw[0].id);
        }
      }),
    );
  });
});

describe('compareForDefault', () => {
  const r = (id: string, ifindex: number, bearer: Bearer, state: ServiceState): RankedService => ({
    id,
    ifindex,
    bearer,
    state,
  });
  const sort = (xs: RankedService[], preferred: Bearer[], order: string[] = []) =>
    [...xs].sort((a, b) => compareForDefault(a, b, preferred, order)).map((x) => x.id);

  it('puts connected before unconnected', () => {
    expect(sort([r('idle', 1, 'ethernet', 'idle'), r('rdy', 2, 'cellular', 'ready')], ['ethernet'])).toEqual([
      'rdy',
      'idle',
    ]);
  });
  it('ranks PreferredTechnologies before state: a ready wifi beats an online ethernet when wifi is preferred', () => {
    expect(sort([r('eth', 1, 'ethernet', 'online'), r('wifi', 2, 'wifi', 'ready')], ['wifi', 'ethernet'])).toEqual([
      'wifi',
      'eth',
    ]);
  });
  it('ranks online before ready within a technology', () => {
    expect(sort([r('a', 1, 'ethernet', 'ready'), r('b', 2, 'ethernet', 'online')], [])).toEqual(['b', 'a']);
  });
  it('then the user order, then ifindex', () => {
    expect(sort([r('a', 1, 'ethernet', 'ready'), r('b', 2, 'ethernet', 'ready')], [], ['b'])).toEqual(['b', 'a']);
    expect(sort([r('b', 2, 'ethernet', 'ready'), r('a', 1, 'ethernet', 'ready')], [])).toEqual(['a', 'b']);
  });
});
