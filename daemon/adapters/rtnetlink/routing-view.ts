/**
 * What the kernel holds inside our ranges, as a {@link RoutingState} (one service per table):
 * the routing adapter's read-back for tests and the bench. Pure.
 */
import type { PolicyRule, RoutingState, ServiceRouting, TableRoute } from '../../core/kernel-state-types.js';
import { FR_ACT_TO_TBL } from './messages/constants.js';
import { isOurRoute, isOurRule, type KernelSnapshot, type Ownership } from './routing-plan.js';

/** The snapshot's entries inside `own`; `names` gives each ifindex its interface name. */
export function routingStateOf(
  snapshot: KernelSnapshot,
  names: ReadonlyMap<number, string>,
  own: Ownership,
): RoutingState {
  const policy: PolicyRule[] = [];
  for (const r of snapshot.rules.filter((x) => isOurRule(x, own))) {
    // Rules with selectors a PolicyRule cannot express are left out of this view.
    if (r.extra || r.dstLen || r.tos || r.action !== FR_ACT_TO_TBL) continue;
    if (r.srcLen > 0 && r.mark === 0)
      policy.push({
        kind: 'source',
        family: r.family,
        priority: r.priority,
        src: r.src,
        srcLen: r.srcLen,
        table: r.table,
      });
    else if (r.srcLen === 0 && r.mark !== 0)
      policy.push({
        kind: 'fwmark',
        family: r.family,
        priority: r.priority,
        mark: r.mark,
        mask: r.mask,
        table: r.table,
      });
  }
  policy.sort(
    (a, b) => a.priority - b.priority || a.family - b.family || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0),
  );
  const byTable = new Map<number, TableRoute[]>();
  for (const r of snapshot.routes) {
    if (!isOurRoute(r, own)) continue;
    const tr: TableRoute = { family: r.family, dst: r.dst, dstLen: r.dstLen, ifindex: r.ifindex, table: r.table };
    if (r.gateway) tr.gateway = r.gateway;
    const list = byTable.get(r.table);
    if (list) list.push(tr);
    else byTable.set(r.table, [tr]);
  }
  const services: ServiceRouting[] = [...byTable.entries()]
    .sort(([a], [b]) => a - b)
    .map(([table, list]) => {
      const ifindex = list[0]?.ifindex ?? 0;
      const mark = policy.find((p) => p.kind === 'fwmark' && p.table === table);
      return {
        serviceId: `table-${table}`,
        ifindex,
        ifname: names.get(ifindex) ?? '',
        table,
        mark: mark?.kind === 'fwmark' ? mark.mark : 0,
        routes: list,
      };
    });
  return { services, rules: policy };
}
