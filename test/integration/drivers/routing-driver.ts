/**
 * Runs the rtnetlink routing adapter inside a network namespace, one process per batch of steps:
 * `ip netns exec NS node --import tsx routing-driver.ts < '{"config"?, "steps":[...]}'`.
 *
 * Steps: `{cmd:'apply', desired, verify?}`, `{cmd:'clear'}`, `{cmd:'read'}`, `{cmd:'exec', argv}` (a
 * command run in the same namespace between two applies, e.g. a change from outside). Prints one JSON line per step:
 * `{cmd, ok, ms, lastOps, report, logs, error?, failures?, actual?}` (`ms`: wall time of the call
 * inside this process, without the process start-up). A new process per batch starts from what
 * the kernel holds; within a batch the adapter plans from its model of the previous apply.
 */
import { execFileSync } from 'node:child_process';
import { createRtnetlinkRouting, RoutingApplyError } from '../../../daemon/adapters/rtnetlink/routing.js';
import { createProcSysctl } from '../../../daemon/adapters/system/proc-sysctl.js';
import { type CoreConfig, DEFAULT_CORE_CONFIG } from '../../../daemon/core/config.js';
import type { RoutingState } from '../../../daemon/core/kernel-state-types.js';

type Step =
  | { cmd: 'apply'; desired: RoutingState; verify?: boolean }
  | { cmd: 'clear' }
  | { cmd: 'read' }
  | { cmd: 'exec'; argv: string[] };

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { config?: CoreConfig; steps: Step[] };

let logs: string[] = [];
const routing = createRtnetlinkRouting({
  config: input.config ?? DEFAULT_CORE_CONFIG,
  sysctls: createProcSysctl(),
  log: (level, msg) => logs.push(`${level} ${msg}`),
});

for (const step of input.steps) {
  logs = [];
  const t0 = performance.now();
  const out: Record<string, unknown> = { cmd: step.cmd, ok: true };
  try {
    if (step.cmd === 'apply') await routing.apply(step.desired, { verify: step.verify === true });
    else if (step.cmd === 'exec') execFileSync(step.argv[0] as string, step.argv.slice(1));
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
