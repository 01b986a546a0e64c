/**
 * What the datapath tests need of the host besides namespaces: throwaway system users (for uid
 * and gid classification), cgroup directories, and requests whose arrival the internet host's
 * log confirms. Users and cgroups are the only things they create outside a namespace; both go
 * in afterAll, also after a failure.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmdirSync } from 'node:fs';
import type { RunAs, Sandbox } from '../harness/sandbox.js';

/** Creates system users (each with its own group); returns their uid and gid, in order. */
export function createTestUsers(names: readonly string[], created: string[]): Array<{ uid: number; gid: number }> {
  return names.map((name) => {
    execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
    created.push(name);
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  });
}

/** Removes the users (and their groups); ones already gone are skipped. */
export function removeTestUsers(names: readonly string[]): void {
  for (const name of names) {
    try {
      execFileSync('userdel', [name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    try {
      execFileSync('groupdel', [name], { stdio: 'ignore' });
    } catch {
      // userdel removed it with the user
    }
  }
}

/** Removes cgroup directories, innermost first as given; a failure is reported, not thrown. */
export function removeCgroupDirs(dirs: readonly string[], tag: string): void {
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch (err) {
      console.warn(`${tag} could not remove cgroup ${dir}: ${(err as Error).message}`);
    }
  }
}

/** Options of {@link tracedRequest}. */
export interface TracedRequestOptions {
  user?: RunAs;
  localAddress?: string;
  v6?: boolean;
  query?: string;
  bodyBytes?: number;
  timeoutMs?: number;
}

/** One request from the device to the internet host; returns the probe's answer and the source address the server saw. */
export async function tracedRequest(sb: Sandbox, label: string, opts: TracedRequestOptions = {}) {
  const host = opts.v6 ? `[${sb.inet.addr6}]` : sb.inet.addr4;
  const path = `/${label}-${randomBytes(3).toString('hex')}`;
  const res = await sb.httpRequest(sb.devNs, `http://${host}${path}${opts.query ? `?${opts.query}` : ''}`, {
    ...(opts.user ? { user: opts.user } : {}),
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    ...(opts.bodyBytes ? { bodyBytes: opts.bodyBytes } : {}),
    timeoutMs: opts.timeoutMs ?? 5000,
  });
  const seen = (await sb.httpLog()).find((e) => e.path === path);
  return { res, client: seen?.client ?? null, path };
}
