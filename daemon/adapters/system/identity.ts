/**
 * IdentityResolver over the local account databases and /proc: user and group names from
 * /etc/passwd and /etc/group (re-read only when they change), the cgroupv2 path from
 * /proc/<pid>/cgroup. Name lookups never fail a session: an id without a name just has none.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { BusCaller } from '../../api.js';
import type { Identity } from '../../core/policy.js';
import type { IdentityResolver } from '../../ports.js';

interface Db {
  mtimeMs: number;
  names: Map<number, string>;
}

function loadIds(file: string, cache: Db | null): Db {
  let mtimeMs = -1;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch {
    return { mtimeMs, names: new Map() };
  }
  if (cache && cache.mtimeMs === mtimeMs) return cache;
  const names = new Map<number, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    const id = Number(f[2]);
    if (f[0] && Number.isInteger(id) && !names.has(id)) names.set(id, f[0]);
  }
  return { mtimeMs, names };
}

const scratch = Buffer.allocUnsafe(8192);

/**
 * A small procfs file, read with one open, one read and one close into a reused buffer:
 * readFileSync adds an fstat and its option handling, on the CreateSession path before the reply.
 */
function readSmall(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, scratch, 0, scratch.length, null);
    // procfs gives the whole file in one read when it fits; a longer one is read the usual way.
    if (n < scratch.length) return scratch.toString('utf8', 0, n);
    return readFileSync(path, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Parses `/proc/<pid>/cgroup` content: the cgroupv2 line is `0::<path>`. */
export function cgroupV2Path(content: string): string | undefined {
  for (const line of content.split('\n')) if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  return undefined;
}

export function createIdentityResolver(
  opts: { passwd?: string; group?: string; proc?: string } = {},
): IdentityResolver {
  const passwd = opts.passwd ?? '/etc/passwd';
  const group = opts.group ?? '/etc/group';
  const proc = opts.proc ?? '/proc';
  let users: Db | null = null;
  let groups: Db | null = null;
  return {
    async resolve(caller: BusCaller): Promise<Identity> {
      users = loadIds(passwd, users);
      groups = loadIds(group, groups);
      const id: Identity = {
        uid: caller.uid,
        groups: caller.gids.map((gid) => {
          const name = groups!.names.get(gid);
          return name === undefined ? { gid } : { gid, name };
        }),
      };
      const user = users.names.get(caller.uid);
      if (user !== undefined) id.user = user;
      if (caller.pid !== undefined) {
        id.pid = caller.pid;
        try {
          // Synchronous on purpose: procfs answers from memory (~25 µs here), while the promise
          // API takes ~250 µs of wall time (open, fstat, read, close: one thread-pool hop each),
          // all of it on the CreateSession path before the reply.
          const cg = cgroupV2Path(readSmall(`${proc}/${caller.pid}/cgroup`));
          if (cg) id.cgroup = cg;
        } catch {
          // The caller may already have exited; it then simply has no cgroup to match.
        }
      }
      return id;
    },
  };
}
