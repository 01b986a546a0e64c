/**
 * The test side of test/integration/drivers/sdk-driver.ts: starts it in the sandbox's device
 * namespace and calls its operations over the unix control socket.
 */
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../harness/daemon.js';
import type { Sandbox, SandboxProcess } from '../harness/sandbox.js';

const DRIVER = fileURLToPath(new URL('../drivers/sdk-driver.ts', import.meta.url));

/** An operation's failure, as the driver reports it. */
export interface DriverError {
  name?: string;
  code?: string;
  message: string;
}

/** A running driver. */
export interface SdkDriver {
  readonly proc: SandboxProcess;
  /** Runs `op`; resolves with its value, rejects with an Error carrying the driver's `code`/`name`. */
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Runs `op`; resolves with its outcome either way. */
  attempt<T = unknown>(
    op: string,
    args?: Record<string, unknown>,
  ): Promise<{ ok: true; value: T } | { ok: false; error: DriverError }>;
}

function post(socketPath: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method: 'POST', path: '/', headers: { 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the driver (killed with the sandbox) and waits until it listens. */
export async function startSdkDriver(sb: Sandbox, name = 'sdk-driver'): Promise<SdkDriver> {
  const socketPath = join(sb.tmpDir, `${name}.sock`);
  const proc = sb.spawn(sb.devNs, [process.execPath, '--import', 'tsx', DRIVER, socketPath], { cwd: REPO_ROOT });
  await proc.waitForLine(/^ready$/, { stream: 'stdout', timeoutMs: 20_000 });
  const attempt = async <T>(op: string, args: Record<string, unknown> = {}) =>
    JSON.parse(await post(socketPath, JSON.stringify({ op, ...args }))) as
      | { ok: true; value: T }
      | { ok: false; error: DriverError };
  return {
    proc,
    attempt,
    async call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      const r = await attempt<T>(op, args);
      if (r.ok) return r.value;
      throw Object.assign(new Error(`${op}: ${r.error.message}`), { code: r.error.code, errorName: r.error.name });
    },
  };
}
