/**
 * `run [session options] -- COMMAND [ARGS]`: COMMAND runs as a new process whose traffic goes
 * through a session of its own, without using the SDK. A fresh cgroup is created, the session
 * is created and claims it (the daemon answers once the kernel marks the cgroup's traffic), and
 * the command is started by a shell that first moves itself into the cgroup and then execs the
 * command, so the command's very first packet is already the session's. Signals are forwarded;
 * when the command exits, the session is destroyed, the cgroup removed, and netsessionctl exits
 * with the command's status (128+N when signal N killed it).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { SessionOptions } from '../../../lib/index.js';
import { createRunCgroup } from '../cgroup.js';
import type { Context } from '../context.js';
import { EXIT_RUN } from '../errors.js';
import { openSession } from './session-create.js';

/** Signals passed on to the command (the terminal sends Ctrl-C to both; a `kill` reaches only us). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** `$1` is cgroup.procs; the shell's pid ($$) becomes the command's through exec. */
const ENTER_AND_EXEC = `echo $$ > "$1" || exit ${EXIT_RUN.cgroup}; shift; exec "$@"`;

export async function run(
  ctx: Context,
  options: SessionOptions,
  waitMs: number | null,
  argv: readonly string[],
): Promise<number> {
  const cg = await createRunCgroup();
  try {
    const s = await openSession(ctx, options, waitMs);
    try {
      await s.claimCgroup(cg.path);
      s.once('destroyed', (err) => {
        if (err)
          ctx.io.err(
            `netsessionctl: warning: the session ended while the command runs (${err.message}); its traffic is no longer the session's`,
          );
      });
      return await runChild(ctx, argv, cg.procs, { NETSESSION_SESSION: s.path, NETSESSION_CGROUP: cg.path });
    } finally {
      await s.destroy().catch(() => undefined);
    }
  } finally {
    if (!(await cg.remove()))
      ctx.io.err(
        `netsessionctl: warning: cgroup ${cg.path} still has processes (the command left some running); it was left in place`,
      );
  }
}

function runChild(ctx: Context, argv: readonly string[], procs: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', ENTER_AND_EXEC, 'netsessionctl-run', procs, ...argv], {
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    const release = ctx.interceptSignals((signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    }, FORWARDED);
    child.once('error', (err) => {
      release();
      reject(new Error(`cannot start the command: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      release();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
