/**
 * Runs the rtnetlink routing adapter inside a network namespace, one process per batch of steps:
 * `ip netns exec NS node --import tsx routing-driver.ts < '{"config"?, "steps":[...]}'`.
 *
 * Steps: `{cmd:'apply', desired}`, `{cmd:'clear'}`, `{cmd:'read'}`. Prints one JSON line per step:
 * `{cmd, ok, ms, lastOps, report, logs, error?, failures?, actual?}` (`ms`: wall time of the call
 * inside this process, without the process start-up). A new process per batch also proves that
 * nothing is remembered between applies: every apply starts from what the kernel holds.
 */
import { createRtnetlinkRouting, RoutingApplyError } from '../../../daemon/adapters/rtnetlink/routing.js';
import { DEFAULT_CORE_CONFIG, type CoreConfig } from '../../../daemon/core/config.js';
import type { RoutingState } from '../../../daemon/ports.js';

type Step = { cmd: 'apply'; desired: RoutingState } | { cmd: 'clear' } | { cmd: 'read' };

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { config?: CoreConfig; steps: Step[] };

let logs: string[] = [];
const routing = createRtnetlinkRouting({
  config: input.config ?? DEFAULT_CORE_CONFIG,
  log: (level, msg) => logs.push(`${level} ${msg}`),
});

for (const step of input.steps) {
  logs = [];
  const t0 = performance.now();
  const out: Record<string, unknown> = { cmd: step.cmd, ok: true };
  try {
    if (step.cmd === 'apply') await routing.apply(step.desired);
    else if (step.cmd === 'clear') await routing.clear();
    else out.actual = await routing.readActual();
  } catch (err) {
    out.ok = false;
    out.error = (err as Error).message;
    if (err instanceof RoutingApplyError) out.failures = err.failures;
  }
  out.ms = Number((performance.now() - t0).toFixed(2));
  out.lastOps = routing.lastOps;
  out.report = routing.lastReport;
  out.logs = logs;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
