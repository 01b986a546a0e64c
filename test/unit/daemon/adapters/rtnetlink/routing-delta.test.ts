/**
 * The routing adapter's change path: a change is planned from the model of the last apply
 * (routing-delta.ts), touches only what changed, goes out in one datagram on one socket, and a
 * state equal but for rule order sends nothing.
 */
import { describe, expect, it } from 'vitest';
import type { RtnlClient, RtnlError, RtRequest } from '../../../../../daemon/adapters/rtnetlink/client.js';
import type { RtKind, RtMessage } from '../../../../../daemon/adapters/rtnetlink/messages/codec.js';
import { RTM } from '../../../../../daemon/adapters/rtnetlink/messages/constants.js';
import { createRtnetlinkRouting } from '../../../../../daemon/adapters/rtnetlink/routing.js';
import { modelOf, planDelta } from '../../../../../daemon/adapters/rtnetlink/routing-delta.js';
import { describeOp, requestOf } from '../../../../../daemon/adapters/rtnetlink/routing-ops.js';
import { createProcSysctl } from '../../../../../daemon/adapters/system/proc-sysctl.js';
import { DEFAULT_CORE_CONFIG } from '../../../../../daemon/core/config.js';
import type { PolicyRule, RoutingState } from '../../../../../daemon/core/kernel-state-types.js';

const OWN = { tableRange: { start: 10000, end: 10999 }, priorityRange: { start: 10000, end: 10999 } };
const MASK = 0x0fff0000;

function service(id: string, ifindex: number, table: number, net: number) {
  return {
    serviceId: id,
    ifindex,
    ifname: `eth-${id}`,
    table,
    mark: (table - 10000) << 16,
    routes: [
      { family: 4 as const, dst: '', dstLen: 0, gateway: `198.51.100.${net + 1}`, ifindex, table },
      { family: 4 as const, dst: `198.51.100.${net}`, dstLen: 29, ifindex, table },
    ],
  };
}

const fwmark = (table: number): PolicyRule => ({
  kind: 'fwmark',
  family: 4,
  priority: 10500 + (table - 10000),
  mark: (table - 10000) << 16,
  mask: MASK,
  table,
});
const source = (table: number, src: string): PolicyRule => ({
  kind: 'source',
  family: 4,
  priority: 10000 + (table - 10000),
  src,
  srcLen: 32,
  table,
});

function state(opts: { sourceRule?: boolean; cNet?: number; withC?: boolean } = {}): RoutingState {
  const services = [service('b', 12, 10001, 16)];
  const rules = [fwmark(10001)];
  if (opts.withC !== false) {
    services.push(service('c', 13, 10002, opts.cNet ?? 24));
    rules.push(fwmark(10002));
  }
  if (opts.sourceRule) rules.unshift(source(10001, '198.51.100.18'));
  return { services, rules };
}

const ops = (s: RoutingState, prev: RoutingState) => {
  const d = planDelta(modelOf(prev, OWN)!, s, OWN)!;
  return d.plan.ops.map(describeOp);
};

describe('planDelta', () => {
  it('plans nothing for an unchanged state', () => {
    expect(ops(state(), state())).toEqual([]);
  });

  it('a source rule that comes or goes is the whole plan', () => {
    expect(ops(state({ sourceRule: true }), state())).toEqual([
      'add rule -4 pref 10001 from 198.51.100.18/32 lookup 10001',
    ]);
    expect(ops(state(), state({ sourceRule: true }))).toEqual([
      'del rule -4 pref 10001 from 198.51.100.18/32 lookup 10001',
    ]);
  });

  it('a source rule that comes back is the record and the request it was before, and a bad rule is looked at each time', () => {
    const bare = modelOf(state(), OWN)!;
    const first = planDelta(bare, state({ sourceRule: true }), OWN)!;
    const gone = planDelta(first.next, state(), OWN)!;
    expect(gone.plan.ops.map(describeOp)).toEqual(['del rule -4 pref 10001 from 198.51.100.18/32 lookup 10001']);
    const again = planDelta(gone.next, state({ sourceRule: true }), OWN)!;
    const added = again.plan.ops[0]!;
    expect(added.kind === 'rule' && added.op === 'add').toBe(true);
    const firstAdd = first.plan.ops[0]!;
    // The same record (so its encoded request is reused), equal to a fresh normalisation.
    expect(added).toEqual(firstAdd);
    expect(added.kind === 'rule' && firstAdd.kind === 'rule' && added.rule === firstAdd.rule).toBe(true);
    expect(requestOf(added)).toBe(requestOf(firstAdd));
    expect(requestOf(gone.plan.ops[0]!)).toEqual(requestOf(gone.plan.ops[0]!));
    // A rule outside our ranges is refused, with its problem reported every time it is planned.
    const bad = state();
    bad.rules.push(source(20001, '198.51.100.19'));
    expect(planDelta(again.next, bad, OWN)!.plan.problems).toHaveLength(1);
    expect(planDelta(again.next, bad, OWN)!.plan.problems).toHaveLength(1);
  });

  it('a changed service re-plans only its own table; a gone one loses its routes and names its table', () => {
    const changed = ops(state({ cNet: 32 }), state());
    expect(changed.every((o) => o.includes('table 10002'))).toBe(true);
    expect(changed).toHaveLength(3); // the on-link route moved (add + del), the default replaced in place
    const d = planDelta(modelOf(state(), OWN)!, state({ withC: false }), OWN)!;
    expect(d.plan.removedTables).toEqual([10002]);
    expect(d.plan.ops.map((o) => `${o.op} ${o.kind} ${o.phase}`)).toEqual(['del rule 4', 'del route 5', 'del route 6']);
  });

  it('declines two services naming one table (the full plan arbitrates)', () => {
    const s = state();
    s.services[1] = { ...s.services[1]!, table: 10001 };
    expect(planDelta(modelOf(state(), OWN)!, s, OWN)).toBeNull();
  });
});

/** A kernel that accepts everything and counts what it was sent. */
class CountingKernel implements RtnlClient {
  datagrams = 0;
  requests: number[] = [];
  dumps = 0;
  closed = 0;
  dump(_kind: RtKind): RtMessage[] {
    this.dumps++;
    return [];
  }
  request(reqs: readonly RtRequest[]): Array<RtnlError | null> {
    this.datagrams++;
    this.requests.push(...reqs.map((r) => r.type));
    return reqs.map(() => null);
  }
  close(): void {
    this.closed++;
  }
}

function adapter() {
  const kernel = new CountingKernel();
  let opens = 0;
  const routing = createRtnetlinkRouting({
    config: { ...DEFAULT_CORE_CONFIG, markMask: MASK, ...OWN },
    sysctls: createProcSysctl('/nonexistent-sysctl-root'),
    openClient: async () => {
      opens++;
      return kernel;
    },
  });
  return { routing, kernel, opens: () => opens };
}

describe('routing adapter change path', () => {
  it('plans a change from the model: no dump, one datagram, one socket for every apply', async () => {
    const { routing, kernel, opens } = adapter();
    await routing.apply(state());
    expect(routing.lastReport.reads).toBe(1);
    // Routes of both tables and their rules, phases mixed in one datagram.
    expect(kernel.datagrams).toBe(1);
    expect(kernel.requests).toEqual([RTM.NEWROUTE, RTM.NEWROUTE, RTM.NEWROUTE, RTM.NEWROUTE, RTM.NEWRULE, RTM.NEWRULE]);
    kernel.datagrams = 0;
    kernel.requests = [];
    await routing.apply(state({ sourceRule: true }));
    expect(routing.lastReport).toMatchObject({ ops: 1, reads: 0, rounds: 1 });
    expect(kernel.requests).toEqual([RTM.NEWRULE]);
    await routing.apply(state());
    expect(kernel.requests).toEqual([RTM.NEWRULE, RTM.DELRULE]);
    expect(kernel.datagrams).toBe(2);
    expect(kernel.dumps).toBe(2); // the first apply's rule and route dumps only
    expect(opens()).toBe(1);
    expect(kernel.closed).toBe(0);
    await routing.clear();
    expect(kernel.closed).toBe(1);
  });

  it('a state equal but for the order of its rules sends nothing', async () => {
    const { routing, kernel } = adapter();
    const s = state({ sourceRule: true });
    await routing.apply(s);
    const n = kernel.datagrams;
    await routing.apply({ services: s.services, rules: [...s.rules].reverse() });
    expect(routing.lastOps).toBe(0);
    expect(kernel.datagrams).toBe(n);
  });

  it('a socket failure closes the socket; the next apply opens a fresh one and reads the kernel back', async () => {
    const { routing, kernel, opens } = adapter();
    await routing.apply(state());
    kernel.request = () => {
      throw Object.assign(new Error('netlink recv: ETIMEDOUT'), { code: 'ETIMEDOUT' });
    };
    await expect(routing.apply(state({ sourceRule: true }))).rejects.toThrow(/ETIMEDOUT/);
    expect(kernel.closed).toBe(1);
    kernel.request = CountingKernel.prototype.request.bind(kernel);
    await routing.apply(state({ sourceRule: true }));
    expect(opens()).toBe(2);
    expect(routing.lastReport.reads).toBe(1);
  });
});
