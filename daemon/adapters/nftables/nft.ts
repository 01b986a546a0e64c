/**
 * Runs the `nft` binary. A script goes in as one argument when small (fastest), else through a
 * file in /dev/shm: `nft -f -` cannot be used from Node, because nft 1.0.6 opens /dev/stdin,
 * which fails on the socketpair Node gives a child as stdin (ENXIO). One argument must stay
 * under the kernel's 128 KiB limit (MAX_ARG_STRLEN).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** nft failed; `message` is one line (nft's first error and the command it names). */
export class NftError extends Error {
  constructor(
    message: string,
    /** nft's whole stderr. */
    readonly stderr: string,
    /** Exit code, or null when nft was killed (timeout) or could not start. */
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'NftError';
  }

  /** The object nft was asked about does not exist (ENOENT from the kernel). */
  get noSuchObject(): boolean {
    return /No such file or directory/.test(this.message);
  }
}

/** Runs nft commands. */
export interface NftRunner {
  /** `nft ...args`; resolves with stdout. Rejects with {@link NftError}. */
  run(args: readonly string[]): Promise<string>;
  /** Runs a text script (newline-separated commands) as one transaction. */
  script(text: string): Promise<void>;
}

/** Options of {@link createNftRunner}. */
export interface NftRunnerOptions {
  /** The nft binary (default `nft` from PATH). */
  nft?: string;
  /** Scripts up to this many bytes go in as an argument (default 100 000). */
  argvLimit?: number;
  /** Where larger scripts are written (default /dev/shm, else the OS temp dir). */
  scratchDir?: string;
  /** nft is killed after this long (default 60 s). */
  timeoutMs?: number;
}

/**
 * One line out of nft's stderr: its first `Error:` message, plus the command it points at
 * (the line nft echoes after it), shortened.
 */
export function summariseNftError(stderr: string, exitCode: number | null): string {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /(^|: )Error: /.test(l));
  if (at < 0) {
    const first = lines.find((l) => l.trim() !== '')?.trim();
    return `nft failed (${exitCode === null ? 'killed' : `exit ${exitCode}`})${first ? `: ${first}` : ''}`;
  }
  const msg = (lines[at] as string).replace(/^.*?Error: /, '').trim();
  const cmd = lines[at + 1];
  const shown = cmd !== undefined && cmd.trim() !== '' && !/^\s*\^/.test(cmd) ? cmd.trim() : '';
  const short = shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
  return `nft: ${msg}${short ? ` (in: ${short})` : ''}`;
}

function defaultScratchDir(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

let scriptSeq = 0;

/** The real runner. */
export function createNftRunner(opts: NftRunnerOptions = {}): NftRunner {
  const nft = opts.nft ?? 'nft';
  const argvLimit = opts.argvLimit ?? 100_000;
  const timeoutMs = opts.timeoutMs ?? 60_000;

  const run = (args: readonly string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(nft, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new NftError(`nft: cannot run ${nft}: ${e.message}`, '', null));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else reject(new NftError(summariseNftError(stderr, code), stderr, code));
      });
    });

  const script = async (text: string): Promise<void> => {
    if (text === '') return;
    if (Buffer.byteLength(text) <= argvLimit) {
      await run([text]);
      return;
    }
    const file = join(opts.scratchDir ?? defaultScratchDir(), `netsession-nft-${process.pid}-${++scriptSeq}.nft`);
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    try {
      await run(['-f', file]);
    } finally {
      try {
        unlinkSync(file);
      } catch {
        // already gone: nothing to clean
      }
    }
  };

  return { run, script };
}
