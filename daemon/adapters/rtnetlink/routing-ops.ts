/**
 * One round of the routing adapter's writes: the plan's operations (routing-plan.ts) as
 * rtnetlink requests, phases in order in one datagram, and each kernel answer sorted into done,
 * race (read back and diff again), not yet reachable (skipped until the next apply) or failed.
 */
import type { Logger } from '../../ports.js';
import { errorCode, type RtnlClient, type RtRequest } from './client.js';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, RTM } from './messages/constants.js';
import { addRouteMessage, delRouteMessage, describeRoute, NOT_YET_REACHABLE } from './routes.js';
import type { RoutingOp } from './routing-plan.js';
import { addRuleMessage, delRuleMessage, describeRule } from './rules.js';

/** One operation that failed. */
export interface RoutingOpFailure {
  /** `ip`-style description of the operation. */
  op: string;
  /** errno name (`EINVAL`, ...) or null when the error carried none. */
  code: string | null;
  message: string;
}

/** Outcome of one round of writes. */
export interface RoundResult {
  issued: number;
  failures: RoutingOpFailure[];
  skipped: string[];
  /** Something raced with us (EEXIST on add, already gone on delete): read back again. */
  recheck: boolean;
}

/** `ip`-style text of an operation. */
export function describeOp(o: RoutingOp): string {
  return o.kind === 'route' ? `${o.op} ${describeRoute(o.route)}` : `${o.op} ${describeRule(o.rule)}`;
}

/**
 * A rule's requests, by the rule record: the routing model hands back the same record for a rule
 * that comes and goes again (a SourceIPRule session's source rule, session after session), and its
 * messages are the same every time. Requests are never modified once built.
 */
const ruleRequests = new WeakMap<object, { add?: RtRequest; del?: RtRequest }>();

/** The request that carries out `o`. */
export function requestOf(o: RoutingOp): RtRequest {
  if (o.kind === 'route') {
    const create = NLM_F_CREATE | (o.op === 'replace' ? NLM_F_REPLACE : NLM_F_EXCL);
    return o.op === 'del'
      ? { type: RTM.DELROUTE, flags: 0, msg: delRouteMessage(o.route) }
      : { type: RTM.NEWROUTE, flags: create, msg: addRouteMessage(o.route) };
  }
  let known = ruleRequests.get(o.rule);
  if (known === undefined) {
    known = {};
    ruleRequests.set(o.rule, known);
  }
  if (o.op === 'del') {
    known.del ??= { type: RTM.DELRULE, flags: 0, msg: delRuleMessage(o.rule) };
    return known.del;
  }
  known.add ??= { type: RTM.NEWRULE, flags: NLM_F_CREATE | NLM_F_EXCL, msg: addRuleMessage(o.rule) };
  return known.add;
}

/**
 * Runs `ops` (sorted by phase), `batch` requests to a datagram, phases mixed: the kernel handles
 * the messages of a datagram one after the other, in order, and answers each (a failure does not
 * stop the rest), so one datagram keeps the phase order exactly as separate ones would, and a
 * change of a few rules costs one send and one wait for the acks instead of one per phase.
 */
export function runPlan(client: RtnlClient, ops: readonly RoutingOp[], batch: number, log: Logger): RoundResult {
  const res: RoundResult = { issued: 0, failures: [], skipped: [], recheck: false };
  for (let i = 0; i < ops.length; ) {
    const j = Math.min(ops.length, i + batch);
    const chunk = ops.slice(i, j);
    let answers: Array<Error | null>;
    try {
      answers = client.request(chunk.map(requestOf));
    } catch (err) {
      // The socket failed (timeout, overrun): every request of the datagram has an unknown outcome.
      answers = chunk.map(() => err as Error);
    }
    for (const [k, o] of chunk.entries()) judge(o, answers[k] ?? null, res, log);
    i = j;
  }
  return res;
}

function judge(o: RoutingOp, err: Error | null, res: RoundResult, log: Logger): void {
  res.issued++;
  const what = describeOp(o);
  if (!err) {
    log('debug', `routing: ${what}`);
    return;
  }
  const code = errorCode(err);
  if (o.op === 'del' && (code === 'ESRCH' || code === 'ENOENT')) {
    // Gone already (someone else deleted it, or an earlier delete took it): verify by reading back.
    res.recheck = true;
  } else if (o.op === 'add' && code === 'EEXIST') {
    // Appeared between our dump and our add: read back, adopt it if identical, replace it if not.
    res.recheck = true;
  } else if (o.kind === 'route' && o.op !== 'del' && code !== null && NOT_YET_REACHABLE.has(code)) {
    res.skipped.push(what);
    log('warn', `routing: ${what}: ${code}, next hop not reachable yet; retrying on the next apply`);
  } else {
    res.failures.push({ op: what, code, message: err.message });
    log('error', `routing: ${what} failed: ${err.message}`);
  }
}
