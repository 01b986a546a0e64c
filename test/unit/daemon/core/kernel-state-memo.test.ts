import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CORE_CONFIG } from '../../../../daemon/core/config.js';
import {
  computeKernelState,
  type KernelInput,
  type KernelServiceInput,
  type KernelSessionInput,
} from '../../../../daemon/core/kernel-state.js';
import { KernelStateMemo } from '../../../../daemon/core/kernel-state-memo.js';

const config = DEFAULT_CORE_CONFIG;

function service(n: number, connected: boolean, addr: number): KernelServiceInput {
  return {
    id: `svc${n}`,
    ifindex: 10 + n,
    ifname: `eth${n}`,
    table: 10000 + n,
    mark: (n + 1) * 0x10000,
    slot: n,
    connected,
    addresses: [
      { family: 4, address: `198.51.100.${10 + n * 10 + addr}`, prefixLength: 24, method: 'manual', scope: 'global' },
      ...(n === 1
        ? [
            {
              family: 6 as const,
              address: `2001:db8:${n}::${addr + 2}`,
              prefixLength: 64,
              method: 'auto' as const,
              scope: 'global' as const,
            },
          ]
        : []),
    ],
    gateways: [{ family: 4, gateway: '198.51.100.1', metric: 100 }],
  };
}

const sessionArb = fc.record({
  serial: fc.integer({ min: 1, max: 12 }),
  priority: fc.boolean(),
  service: fc.constantFrom<number | null>(0, 1, 2, null),
  uid: fc.option(fc.constantFrom('1000', '1001', '0042'), { nil: null }),
  cgroup: fc.boolean(),
  sourceIPRule: fc.boolean(),
  tagShift: fc.integer({ min: 0, max: 1 }),
});

const inputArb = fc
  .record({
    services: fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 1 })), { minLength: 3, maxLength: 3 }),
    sessions: fc.uniqueArray(sessionArb, { selector: (s) => s.serial, maxLength: 8 }),
  })
  .map(
    ({ services, sessions }): KernelInput => ({
      config,
      services: services.map(([connected, addr], n) => service(n, connected, addr)),
      sessions: sessions.map(
        (s): KernelSessionInput => ({
          sessionKey: `s${s.serial}`,
          serial: s.serial,
          tag: s.serial + 100 * s.tagShift,
          priority: s.priority,
          serviceId: s.service === null ? null : `svc${s.service}`,
          claims: [
            ...(s.uid ? [{ kind: 'uid' as const, key: s.uid }] : []),
            ...(s.cgroup ? [{ kind: 'cgroup' as const, key: '/app' }] : []),
          ],
          sourceIPRule: s.sourceIPRule,
        }),
      ),
    }),
  );

describe('KernelStateMemo', () => {
  it('property: every step equals computeKernelState of the same input', () => {
    fc.assert(
      fc.property(fc.array(inputArb, { minLength: 1, maxLength: 10 }), (inputs) => {
        const memo = new KernelStateMemo();
        for (const input of inputs) expect(memo.compute(input)).toEqual(computeKernelState(input));
      }),
      { numRuns: 400 },
    );
  });

  it('property: the same, with the previous input objects reused wherever they are equal (as the engine reuses them)', () => {
    const reuse = (prev: KernelInput | null, next: KernelInput): KernelInput => {
      if (!prev) return next;
      const same = <T>(a: T | undefined, b: T): T =>
        a !== undefined && JSON.stringify(a) === JSON.stringify(b) ? a : b;
      const byKey = new Map(prev.sessions.map((s) => [s.sessionKey, s]));
      const byId = new Map(prev.services.map((s) => [s.id, s]));
      return {
        config,
        services: next.services.map((s) => same(byId.get(s.id), s)),
        sessions: next.sessions.map((s) => same(byKey.get(s.sessionKey), s)),
      };
    };
    fc.assert(
      fc.property(fc.array(inputArb, { minLength: 1, maxLength: 10 }), (inputs) => {
        const memo = new KernelStateMemo();
        let prev: KernelInput | null = null;
        for (const generated of inputs) {
          const input = reuse(prev, generated);
          // Small steps from it too, sharing every other object: one changed, one removed, the middle dropped.
          const changed = {
            ...input,
            sessions: input.sessions.map((s, i) =>
              i === 1 ? { ...s, serviceId: 'svc2', claims: [{ kind: 'uid' as const, key: '1000' }] } : s,
            ),
          };
          const removed = { ...changed, sessions: changed.sessions.slice(1) };
          const middle = { ...removed, sessions: [...removed.sessions.slice(0, 1), ...removed.sessions.slice(3)] };
          for (const step of [input, changed, removed, middle])
            expect(memo.compute(step)).toEqual(computeKernelState(step));
          prev = middle;
        }
      }),
      { numRuns: 400 },
    );
  });

  it('hands back the same objects for what did not change', () => {
    const memo = new KernelStateMemo();
    const services = [service(0, true, 0), service(1, true, 0)];
    const sessions: KernelSessionInput[] = Array.from({ length: 5 }, (_, i) => ({
      sessionKey: `s${i}`,
      serial: i,
      tag: i + 1,
      priority: false,
      serviceId: 'svc0',
      claims: [{ kind: 'uid', key: String(1000 + i) }],
      sourceIPRule: false,
    }));
    const a = memo.compute({ config, services, sessions });
    // Fresh but equal input objects (as the engine builds them): everything is reused.
    const b = memo.compute({
      config,
      services: services.map((s) => ({ ...s })),
      sessions: sessions.map((s) => ({ ...s, claims: [...s.claims] })),
    });
    expect(b).toBe(a);
    // One session moves: its marking is new, the others are the same objects; routing unchanged.
    const c = memo.compute({
      config,
      services,
      sessions: sessions.map((s, i) => (i === 2 ? { ...s, serviceId: 'svc1' } : s)),
    });
    expect(c.routing).toBe(a.routing);
    expect(c.firewall.sessions[2]).not.toBe(a.firewall.sessions[2]);
    expect(c.firewall.sessions.filter((m, i) => m === a.firewall.sessions[i])).toHaveLength(4);
    expect(c.firewall.classifiers).toBe(a.firewall.classifiers);
    // The firewall's services are the same array through session changes, a new one when a service changes.
    expect(c.firewall.services).toBe(a.firewall.services);
    expect(c.firewall.services?.map((m) => m.mark)).toEqual([0x10000, 0x20000]);
    const d = memo.compute({ config, services: [service(0, true, 0), service(1, false, 0)], sessions });
    expect(d.firewall.services).not.toBe(a.firewall.services);
    expect(d.firewall.services?.map((m) => m.mark)).toEqual([0x10000]);
  });

  it('duplicate session keys (never from the engine) still give the full result', () => {
    const memo = new KernelStateMemo();
    const s: KernelSessionInput = {
      sessionKey: 'x',
      serial: 1,
      tag: 1,
      priority: false,
      serviceId: null,
      claims: [],
      sourceIPRule: false,
    };
    const input = { config, services: [], sessions: [s, { ...s, serial: 2, tag: 2 }] };
    expect(memo.compute(input)).toEqual(computeKernelState(input));
    expect(memo.compute({ ...input, sessions: [s] })).toEqual(computeKernelState({ ...input, sessions: [s] }));
  });

  it('update: per change; a claim-less session changes nothing; a claim gained or lost patches the list in order', () => {
    const memo = new KernelStateMemo();
    const services = [service(0, true, 0), service(1, true, 0)];
    const mk = (serial: number, claims: KernelSessionInput['claims'] = []): KernelSessionInput => ({
      sessionKey: `s${serial}`,
      serial,
      tag: serial,
      priority: false,
      serviceId: 'svc0',
      claims,
      sourceIPRule: false,
    });
    const all = new Map<string, KernelSessionInput>();
    const step = (changed: KernelSessionInput[], removed: string[] = []) => {
      for (const s of changed) all.set(s.sessionKey, s);
      for (const k of removed) all.delete(k);
      const got = memo.update({ config, services, changed, removed });
      expect(got).toEqual(computeKernelState({ config, services, sessions: [...all.values()] }));
      return got;
    };
    const a = step([1, 2, 3, 4].map((n) => mk(n, n % 2 ? [{ kind: 'uid', key: String(1000 + n) }] : [])));
    expect(a.firewall.sessions.map((m) => m.sessionKey)).toEqual(['s1', 's3']);
    // A new session that claims nothing: the very same state.
    expect(step([mk(5)])).toBe(a);
    // s2 gains a claim: inserted between s1 and s3, which stay the same objects.
    const b = step([mk(2, [{ kind: 'cgroup', key: '/x' }])]);
    expect(b.firewall.sessions.map((m) => m.sessionKey)).toEqual(['s1', 's2', 's3']);
    expect(b.firewall.sessions[0]).toBe(a.firewall.sessions[0]);
    expect(b.firewall.sessions[2]).toBe(a.firewall.sessions[1]);
    expect(b.routing).toBe(a.routing);
    // s1 loses its claim, s3 ends: only s2 is left.
    const c = step([mk(1)], ['s3']);
    expect(c.firewall.sessions).toEqual([b.firewall.sessions[1]]);
    expect(c.firewall.sessions[0]).toBe(b.firewall.sessions[1]);
    // A service change re-marks only its own sessions (s2's SNAT address follows svc0's).
    const moved = [service(0, true, 1), services[1]!];
    const d = memo.update({ config, services: moved, changed: [], removed: [] });
    expect(d).toEqual(computeKernelState({ config, services: moved, sessions: [...all.values()] }));
    expect(d.firewall.sessions[0]!.snat).not.toEqual(c.firewall.sessions[0]!.snat);
  });

  it('markings of one service share one SNAT array, the service listing included; a changed service gets a new one', () => {
    const memo = new KernelStateMemo();
    const mk = (serial: number): KernelSessionInput => ({
      sessionKey: `s${serial}`,
      serial,
      tag: serial,
      priority: false,
      serviceId: 'svc0',
      claims: [{ kind: 'uid', key: String(1000 + serial) }],
      sourceIPRule: false,
    });
    const a = memo.update({ config, services: [service(0, true, 0)], changed: [mk(1), mk(2)], removed: [] });
    const [m1, m2] = a.firewall.sessions;
    expect(m1!.snat).toEqual([{ family: 4, address: '198.51.100.10' }]);
    expect(m2!.snat).toBe(m1!.snat);
    expect(a.firewall.services?.[0]?.snat).toBe(m1!.snat);
    const b = memo.update({ config, services: [service(0, true, 1)], changed: [], removed: [] });
    expect(b.firewall.sessions[0]!.snat).toEqual([{ family: 4, address: '198.51.100.11' }]);
    expect(b.firewall.sessions[0]!.snat).not.toBe(m1!.snat);
    expect(b.firewall.sessions[1]!.snat).toBe(b.firewall.sessions[0]!.snat);
  });
});
