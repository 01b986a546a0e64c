/**
 * Running commands and tracking the processes the harness starts.
 *
 * Every long-lived child is started in its own process group so that `kill()` also reaches the
 * children it forked (a daemon under test may spawn helpers), and it is only ever signalled by
 * its own id — never by name.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';

/** How a process ended: exit code, or the signal that ended it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Result of {@link runCommand}. `code` is 128+signal number when a signal ended the command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
  timedOut: boolean;
}

/** Options for {@link runCommand}. */
export interface RunOptions {
  /** Return a non-zero exit instead of throwing {@link CommandError}. */
  allowFail?: boolean;
  /** Complete environment of the child (the caller merges). Default: this process's env. */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Killed with SIGKILL after this long (default 30 s); counts as a failure. */
  timeoutMs?: number;
  cwd?: string;
}

/** A command exited non-zero (or timed out). Carries everything needed to diagnose it. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    const why = result.timedOut ? 'timed out' : `exited with ${result.code}`;
    const detail = (result.stderr.trim() || result.stdout.trim()).slice(-2000);
    super(`${argv.join(' ')} ${why}${detail ? `: ${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0);
}

/** Runs argv to completion and collects its output. Throws {@link CommandError} unless allowFail. */
export function runCommand(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('runCommand: empty argv'));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { stdout, stderr, code: exitCodeOf(code, signal), timedOut };
      if ((result.code !== 0 || timedOut) && !opts.allowFail) reject(new CommandError(argv, result));
      else resolve(result);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Which output stream a line came from. */
export type StreamName = 'stdout' | 'stderr';

/** A tracked long-running child process (see {@link ManagedProcess}). */
export interface SandboxProcess {
  readonly pid: number;
  readonly argv: readonly string[];
  /** Everything written to stdout so far. */
  readonly stdout: string;
  /** Everything written to stderr so far. */
  readonly stderr: string;
  /** Resolves (never rejects) when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** The exit status, or null while running. */
  readonly exitStatus: ProcessExit | null;
  /** Calls `listener` for every complete line from now on; returns an unsubscribe function. */
  onLine(listener: (line: string, stream: StreamName) => void): () => void;
  /**
   * Resolves with the first line (already printed or future) that matches. Rejects when the
   * process exits first or after `timeoutMs` (default 10 s).
   */
  waitForLine(pattern: RegExp | string, opts?: { stream?: StreamName | 'both'; timeoutMs?: number }): Promise<string>;
  /** Sends `signal` (default SIGTERM) to the process group, then SIGKILL after `graceMs` (default 3 s). */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcessExit>;
}

/** Options for {@link ManagedProcess.start}. */
export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** A child process in its own process group, with line-buffered output capture. */
export class ManagedProcess implements SandboxProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  #stdout = '';
  #stderr = '';
  #lines: Array<{ line: string; stream: StreamName }> = [];
  #partial: Record<StreamName, string> = { stdout: '', stderr: '' };
  #listeners = new Set<(line: string, stream: StreamName) => void>();
  #exit: ProcessExit | null = null;

  private constructor(
    readonly argv: readonly string[],
    child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
    this.pid = child.pid;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.#take('stdout', d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.#take('stderr', d));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        for (const stream of ['stdout', 'stderr'] as const)
          if (this.#partial[stream]) this.#emit(this.#partial[stream], stream);
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  /** Starts argv detached (own process group) with piped stdout/stderr and stdin closed. */
  static start(argv: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
    const [file, ...args] = argv;
    if (file === undefined) throw new Error('ManagedProcess.start: empty argv');
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    // A spawn failure (ENOENT) arrives as an 'error' event; without a listener it would crash.
    child.on('error', () => undefined);
    return new ManagedProcess(argv, child);
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get exitStatus(): ProcessExit | null {
    return this.#exit;
  }

  onLine(listener: (line: string, stream: StreamName) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  waitForLine(
    pattern: RegExp | string,
    opts: { stream?: StreamName | 'both'; timeoutMs?: number } = {},
  ): Promise<string> {
    const want = opts.stream ?? 'both';
    const matches = (line: string, stream: StreamName): boolean =>
      (want === 'both' || want === stream) &&
      (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line));
    const seen = this.#lines.find((l) => matches(l.line, l.stream));
    if (seen) return Promise.resolve(seen.line);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
      };
      const unsubscribe = this.onLine((line, stream) => {
        if (!matches(line, stream)) return;
        done();
        resolve(line);
      });
      const timer = setTimeout(() => {
        unsubscribe();
        reject(
          new Error(
            `no line matching ${String(pattern)} from ${this.argv.join(' ')} within ${opts.timeoutMs ?? 10_000} ms; stderr: ${this.#stderr.slice(-2000)}`,
          ),
        );
      }, opts.timeoutMs ?? 10_000);
      void this.exited.then((exit) => {
        done();
        reject(
          new Error(
            `${this.argv.join(' ')} exited (${JSON.stringify(exit)}) before printing ${String(pattern)}; stderr: ${this.#stderr.slice(-2000)}`,
          ),
        );
      });
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<ProcessExit> {
    // Only a live leader proves the group id is still ours; after it exits the number may be reused.
    if (this.#exit) return this.#exit;
    signalGroup(this.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!this.#exit) signalGroup(this.pid, 'SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, forced]);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Synchronous last-resort kill for exit handlers. */
  killSync(): void {
    if (!this.#exit) signalGroup(this.pid, 'SIGKILL');
  }

  #take(stream: StreamName, data: string): void {
    if (stream === 'stdout') this.#stdout += data;
    else this.#stderr += data;
    const parts = (this.#partial[stream] + data).split('\n');
    this.#partial[stream] = parts.pop() ?? '';
    for (const line of parts) this.#emit(line, stream);
  }

  #emit(line: string, stream: StreamName): void {
    this.#lines.push({ line, stream });
    for (const listener of [...this.#listeners]) listener(line, stream);
  }
}

/** Polls `check` every `intervalMs` until it returns a non-undefined value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 5000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
