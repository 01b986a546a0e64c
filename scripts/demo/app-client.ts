/**
 * The demo's side of scripts/demo/app.ts: starts the app in the sandbox's device namespace,
 * calls its operations over the unix control socket and collects the Updates it prints.
 */
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionUpdate } from '../../lib/index.js';
import { REPO_ROOT } from '../../test/integration/harness/daemon.js';
import type { Sandbox, SandboxProcess } from '../../test/integration/harness/sandbox.js';

const APP = fileURLToPath(new URL('./app.ts', import.meta.url));

/** One Update a session of the app received, in arrival order. */
export interface AppUpdate {
  id: string;
  changes: SessionUpdate;
}

/** A running app. */
export interface DemoApp {
  readonly proc: SandboxProcess;
  /** Every Update so far. */
  readonly updates: readonly AppUpdate[];
  /** Runs an operation; rejects with the app's error message. */
  call<T = unknown>(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** The first Update of session `id` at index ≥ `from` that `match` accepts. */
  waitUpdate(id: string, from: number, match: (u: SessionUpdate) => boolean, timeoutMs: number): Promise<SessionUpdate>;
}

function post(socketPath: string, body: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method: 'POST', path: '/', headers: { 'Content-Type': 'application/json' }, timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from the app within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the app (a tracked process: the sandbox kills it at destroy) and waits until it listens. */
export async function startApp(sb: Sandbox): Promise<DemoApp> {
  const socketPath = join(sb.tmpDir, 'demo-app.sock');
  const proc = sb.spawn(sb.devNs, [process.execPath, '--import', 'tsx', APP, socketPath], { cwd: REPO_ROOT });
  const updates: AppUpdate[] = [];
  const waiters = new Set<() => void>();
  proc.onLine((line, stream) => {
    if (stream !== 'stdout' || !line.startsWith('update ')) return;
    updates.push(JSON.parse(line.slice('update '.length)) as AppUpdate);
    for (const w of [...waiters]) w();
  });
  await proc.waitForLine(/^ready$/, { stream: 'stdout', timeoutMs: 20_000 });
  return {
    proc,
    updates,
    async call<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<T> {
      const r = JSON.parse(await post(socketPath, JSON.stringify({ op, ...args }), timeoutMs)) as
        | { ok: true; value: T }
        | { ok: false; error: string };
      if (!r.ok) throw new Error(`${op}: ${r.error}`);
      return r.value;
    },
    waitUpdate(id, from, match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = updates.slice(from).find((u) => u.id === id && match(u.changes));
          if (!hit) return;
          done();
          resolve(hit.changes);
        };
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no such Update for session ${id} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
