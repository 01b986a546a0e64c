/**
 * Runs netsessionctl the way a person would, as a child process in a sandbox's device namespace
 * (on the sandbox's private bus), for the CLI integration tests.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from '../harness/daemon.js';
import type { CommandResult, Sandbox, SandboxProcess } from '../harness/sandbox.js';

export const NODE = process.execPath;
export const CLI = join(REPO_ROOT, 'bin/netsessionctl.ts');

/**
 * argv that runs netsessionctl in the device namespace. `ip netns exec` gives every command a
 * fresh /sys without cgroup mounts, so cgroup2 is mounted first (in that command's own mount
 * namespace): `run` needs it, the others do not mind.
 */
export function ctlArgv(args: readonly string[]): string[] {
  return [
    'sh',
    '-c',
    'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"',
    'ctl',
    NODE,
    '--import',
    'tsx',
    CLI,
    ...args,
  ];
}

/** Runs netsessionctl ARGS in `box` and waits for it. */
export function runCtl(box: Sandbox, args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
  return box.run(box.devNs, ctlArgv(args), { allowFail: true, cwd: REPO_ROOT, timeoutMs });
}

/** Runs `--json ARGS` (in `box`), expects exit 0 and parses stdout. */
export async function jsonIn<T = unknown>(box: Sandbox, ...args: string[]): Promise<T> {
  const r = await runCtl(box, ['--json', ...args]);
  expect(r.stderr, `${args.join(' ')}: stderr`).toBe('');
  expect(r.code, `${args.join(' ')}: exit`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Starts netsessionctl ARGS in `box` (streaming commands). */
export function spawnCtlIn(box: Sandbox, args: readonly string[]): SandboxProcess {
  return box.spawn(box.devNs, ctlArgv(args), { cwd: REPO_ROOT });
}

/** The first JSON line of `proc` (printed already or later) that `match` accepts. */
export function jsonLine<T = Record<string, unknown>>(
  proc: SandboxProcess,
  match: (o: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const parse = (line: string): T | undefined => {
    try {
      const o = JSON.parse(line) as T;
      return match(o) ? o : undefined;
    } catch {
      return undefined;
    }
  };
  for (const line of proc.stdout.split('\n')) {
    const o = parse(line);
    if (o) return Promise.resolve(o);
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(
          `no matching line from ${proc.argv.slice(-4).join(' ')} within ${timeoutMs} ms; stdout:\n${proc.stdout.slice(-2000)}\nstderr:\n${proc.stderr.slice(-2000)}`,
        ),
      );
    }, timeoutMs);
    const off = proc.onLine((line, stream) => {
      if (stream !== 'stdout') return;
      const o = parse(line);
      if (!o) return;
      clearTimeout(timer);
      off();
      resolve(o);
    });
    void proc.exited.then(() => {
      clearTimeout(timer);
      off();
      reject(new Error(`${proc.argv.slice(-4).join(' ')} exited: ${proc.stderr.slice(-2000)}`));
    });
  });
}
