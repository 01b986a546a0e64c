/**
 * Records every program a process (and anything it forks) executes, with `strace -f -e execve`
 * attached to it while it runs: the evidence that a code path spawns no child process.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../harness/exec.js';
import type { Sandbox } from '../harness/sandbox.js';

/** A running trace; {@link ExecTrace.stop} detaches and returns the programs executed meanwhile. */
export interface ExecTrace {
  stop(): Promise<string[]>;
}

/** The pid itself or its first descendant named `comm` (wrappers such as unshare exec in place, but not all). */
function findProcess(pid: number, comm: string): number {
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift() as number;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) return p;
      for (const t of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))
        queue.push(Number(t));
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no process named ${comm} at or below pid ${pid}`);
}

/** Attaches strace to the `comm` process at or below `pid`; resolves once it is attached. */
export async function traceExecs(sb: Sandbox, pid: number, comm = 'node'): Promise<ExecTrace> {
  const target = findProcess(pid, comm);
  const out = join(sb.tmpDir, `execs-${target}-${Date.now()}.strace`);
  const proc = sb.spawn(sb.devNs, [
    'strace',
    '-f',
    '-qq',
    '-e',
    'trace=execve,execveat',
    '-o',
    out,
    '-p',
    String(target),
  ]);
  await waitFor(
    'strace attached',
    () => (/^TracerPid:\s+[1-9]/m.test(readFileSync(`/proc/${target}/status`, 'utf8')) ? true : undefined),
    { timeoutMs: 10_000 },
  );
  return {
    async stop() {
      await proc.kill('SIGINT', 5000);
      let text = '';
      try {
        text = readFileSync(out, 'utf8');
      } catch {
        // nothing was written: nothing was executed
      }
      return text.split('\n').filter((l) => /execve(at)?\(/.test(l));
    },
  };
}
