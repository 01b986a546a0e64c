/**
 * The routing adapter's plan for a change, from its model of what it applied last: only services
 * whose routing changed are normalised and diffed, only rules that came or went are touched.
 * Pure. The full diff against a kernel dump (routing-plan.ts) stays for the first apply, verifies
 * and every case this one declines (it returns null: two services naming one table, where the
 * full plan arbitrates).
 *
 * A service's routes are normalised on their own: every cross-route decision of
 * {@link normaliseDesired} (the onlink flag, one route per kernel slot) is taken within one table,
 * and a table belongs to one service.
 */

import { BoundedMap } from '../../core/bounded-map.js';
import type { PolicyRule, RoutingState, ServiceRouting } from '../../core/kernel-state-types.js';
import { partJson } from '../../core/stable-routing.js';
import { RTPROT_NETSESSION } from './messages/constants.js';
import { diffRoutes, type KernelRoute, type RouteSpec, routeKey } from './routes.js';
import {
  type KernelSnapshot,
  normaliseDesired,
  type Ownership,
  type RoutingOp,
  type RoutingPlan,
  ruleDeletesAmbiguous,
} from './routing-plan.js';
import { type KernelRule, type RuleSpec, ruleKey } from './rules.js';

/** What the adapter applied last, per service and per rule, in kernel records. */
export interface RoutingModel {
  /** By service id: the service's routing as given (JSON) and its routes as the kernel holds them. */
  services: Map<string, { json: string; routes: KernelRoute[] }>;
  /** By the core's rule (JSON): the kernel rule it became (null: not applied, see problems). */
  rules: Map<string, KernelRule | null>;
  /**
   * Rules normalised before, by the core's rule (JSON), kept past their removal (bounded): a
   * SourceIPRule session's source rule comes and goes with each session, and normalising it (and
   * encoding its requests, keyed by this record) is most of what such a session costs the adapter.
   */
  known?: BoundedMap<string, KernelRule>;
}

const asKernel = <T extends RouteSpec | RuleSpec>(r: T): T & { protocol: number } => ({
  ...r,
  protocol: RTPROT_NETSESSION,
});

function serviceRoutes(svc: ServiceRouting, own: Ownership, problems: string[]): KernelRoute[] {
  const n = normaliseDesired({ services: [svc], rules: [] }, own);
  problems.push(...n.problems);
  return n.routes.map(asKernel);
}

function ruleOf(r: PolicyRule, own: Ownership, problems: string[]): KernelRule | null {
  const n = normaliseDesired({ services: [], rules: [r] }, own);
  problems.push(...n.problems);
  return n.rules[0] ? asKernel(n.rules[0]) : null;
}

function remember(known: BoundedMap<string, KernelRule>, json: string, rule: KernelRule | null): KernelRule | null {
  // A rule with problems normalises to null and is looked at again next time (and logged again).
  return rule === null ? null : known.set(json, rule);
}

/** The model of a state applied cleanly from nothing (the first apply after a dump, say). */
export function modelOf(desired: RoutingState, own: Ownership): RoutingModel | null {
  return planDelta({ services: new Map(), rules: new Map() }, desired, own)?.next ?? null;
}

/** The model's records as a dump would show them (the full plan's input after a failed delta). */
export function snapshotOfModel(m: RoutingModel): KernelSnapshot {
  const routes = [...m.services.values()].flatMap((s) => s.routes);
  const rules = [...m.rules.values()].filter((r): r is KernelRule => r !== null);
  return { routes, rules };
}

/**
 * The operations that take the kernel from `prev` to `desired`, and the model after them; null
 * when two services name one table (the full plan decides then).
 */
export function planDelta(
  prev: RoutingModel,
  desired: RoutingState,
  own: Ownership,
): { plan: RoutingPlan; next: RoutingModel } | null {
  const problems: string[] = [];
  const ops: RoutingOp[] = [];
  const known = prev.known ?? new BoundedMap<string, KernelRule>(64);
  const next: RoutingModel = { services: new Map(), rules: new Map(), known };
  const tables = new Set<number>();
  for (const svc of desired.services) {
    if (tables.has(svc.table) || next.services.has(svc.serviceId)) return null;
    tables.add(svc.table);
    const json = partJson(svc);
    const was = prev.services.get(svc.serviceId);
    if (was && was.json === json) {
      next.services.set(svc.serviceId, was);
      continue;
    }
    const routes = serviceRoutes(svc, own, problems);
    next.services.set(svc.serviceId, { json, routes });
    const d = diffRoutes(was?.routes ?? [], routes, routeKey);
    for (const { route: r, replaces } of d.write)
      ops.push({ phase: r.gateway === '' ? 1 : 2, kind: 'route', op: replaces ? 'replace' : 'add', route: r });
    for (const r of d.del) ops.push({ phase: r.gateway === '' ? 6 : 5, kind: 'route', op: 'del', route: r });
  }
  const removedTables = new Set<number>();
  for (const [id, was] of prev.services) {
    if (next.services.has(id)) continue;
    for (const r of was.routes) {
      ops.push({ phase: r.gateway === '' ? 6 : 5, kind: 'route', op: 'del', route: r });
      removedTables.add(r.table);
    }
  }
  for (const t of tables) removedTables.delete(t);

  // Rules: kept by the core's own record; a new one is added unless an equal kernel rule stays.
  const keptKeys = new Set<string>();
  const added: KernelRule[] = [];
  for (const r of desired.rules) {
    const json = partJson(r);
    if (next.rules.has(json)) continue;
    const rule = prev.rules.has(json)
      ? prev.rules.get(json)!
      : (known.get(json) ?? remember(known, json, ruleOf(r, own, problems)));
    const key = rule && ruleKey(rule);
    if (key !== null && keptKeys.has(key)) continue;
    next.rules.set(json, rule);
    if (key === null) continue;
    keptKeys.add(key);
    if (!prev.rules.has(json)) added.push(rule!);
  }
  const stale: KernelRule[] = [];
  for (const [json, rule] of prev.rules) if (!next.rules.has(json) && rule) stale.push(rule);
  // A rule may have moved from one core record to another that normalises the same: not stale.
  const addedKeys = new Set(added.map(ruleKey));
  const staleKept = new Set<string>();
  for (const r of stale) {
    const k = ruleKey(r);
    if (addedKeys.has(k) && !staleKept.has(k)) staleKept.add(k);
    else ops.push({ phase: 4, kind: 'rule', op: 'del', rule: r });
  }
  for (const r of added) if (!staleKept.has(ruleKey(r))) ops.push({ phase: 3, kind: 'rule', op: 'add', rule: r });

  ops.sort((a, b) => a.phase - b.phase);
  const deletes = ops.flatMap((o) => (o.kind === 'rule' && o.op === 'del' ? [o.rule] : []));
  const ambiguous =
    deletes.length > 0 &&
    ruleDeletesAmbiguous(
      snapshotOfModel(prev).rules,
      ops.flatMap((o) => (o.kind === 'rule' && o.op === 'add' ? [o.rule] : [])),
      deletes,
    );
  return {
    plan: { ops, problems, removedTables: [...removedTables].sort((a, b) => a - b), ambiguous },
    next,
  };
}
