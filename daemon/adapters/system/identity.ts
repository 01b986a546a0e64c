/**
 * IdentityResolver over the local account databases and /proc: user and group names from
 * /etc/passwd and /etc/group (re-read only when they change), the cgroupv2 path from
 * /proc/<pid>/cgroup. Name lookups never fail a session: an id without a name just has none.
 *
 * Whether the account files changed is asked of the file system at most once per
 * {@link RECHECK_MS}, not on every call: the two stat calls were a measurable part of a
 * CreateSession's own work, and a renamed user or group is seen within a second anyway
 * (a session keeps the names it was created with, as before).
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { BusCaller } from '../../api.js';
import type { Identity } from '../../core/policy.js';
import type { IdentityResolver } from '../../ports.js';

/** How long a look at the account files stays good (ms). */
export const RECHECK_MS = 1000;

interface Db {
  /** mtime, size and inode: an edit in place or a rename over the file (useradd's way) changes one. */
  version: string;
  names: Map<number, string>;
}

function loadIds(file: string, cache: Db | null): Db {
  let version: string;
  try {
    const st = statSync(file);
    version = `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return { version: '', names: new Map() };
  }
  if (cache && cache.version === version) return cache;
  const names = new Map<number, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    const id = Number(f[2]);
    if (f[0] && Number.isInteger(id) && !names.has(id)) names.set(id, f[0]);
  }
  return { version, names };
}

const scratch = Buffer.allocUnsafe(8192);

/** Callers whose `/proc/<pid>/cgroup` is kept open (the oldest is closed past this many). */
const OPEN_CGROUP_FILES = 64;

/**
 * `/proc/<pid>/cgroup` of a few recent callers, kept open and read again from offset 0 (procfs
 * renders the file afresh on every such read, so a process moved to another cgroup is seen): one
 * syscall per call instead of open, read and close, on the CreateSession path before the reply.
 * An open file stays bound to its process: once that one exits, reads fail, the file is closed
 * and the path opened again, so a reused pid is never read through a dead process's file.
 */
class CgroupFiles {
  readonly #fds = new Map<string, number>();

  read(path: string): string {
    const kept = this.#fds.get(path);
    if (kept !== undefined) {
      try {
        const text = this.#readAt0(kept, path);
        if (text !== '') return text;
      } catch {
        // The process is gone (or the file went): open the path again below.
      }
      this.#close(path, kept);
    }
    const fd = openSync(path, 'r');
    try {
      const text = this.#readAt0(fd, path);
      if (this.#fds.size >= OPEN_CGROUP_FILES) {
        const [oldest, ofd] = this.#fds.entries().next().value as [string, number];
        this.#close(oldest, ofd);
      }
      this.#fds.set(path, fd);
      return text;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  #readAt0(fd: number, path: string): string {
    const n = readSync(fd, scratch, 0, scratch.length, 0);
    // procfs gives the whole file in one read when it fits; a longer one is read the usual way.
    if (n < scratch.length) return scratch.toString('utf8', 0, n);
    return readFileSync(path, 'utf8');
  }

  #close(path: string, fd: number): void {
    this.#fds.delete(path);
    try {
      closeSync(fd);
    } catch {
      // Already closed: nothing to give back.
    }
  }
}

/** Parses `/proc/<pid>/cgroup` content: the cgroupv2 line is `0::<path>`. */
export function cgroupV2Path(content: string): string | undefined {
  for (const line of content.split('\n')) if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  return undefined;
}

/**
 * The resolver; `passwd`, `group` and `proc` replace the system's paths and `now` the monotonic
 * clock (ms) that paces the account files' re-check (tests).
 */
export function createIdentityResolver(
  opts: { passwd?: string; group?: string; proc?: string; now?: () => number } = {},
): IdentityResolver {
  const passwd = opts.passwd ?? '/etc/passwd';
  const group = opts.group ?? '/etc/group';
  const proc = opts.proc ?? '/proc';
  const now = opts.now ?? (() => performance.now());
  let users: Db | null = null;
  let groups: Db | null = null;
  let checkedAt = Number.NEGATIVE_INFINITY;
  const cgroupFiles = new CgroupFiles();
  const cgroupOf = (pid: number): string | undefined => {
    try {
      // Synchronous on purpose: procfs answers from memory (~8 µs here), while the promise API
      // takes ~250 µs of wall time (open, fstat, read, close: one thread-pool hop each).
      return cgroupV2Path(cgroupFiles.read(`${proc}/${pid}/cgroup`));
    } catch {
      // The caller may already have exited; it then simply has no cgroup to match.
      return undefined;
    }
  };
  return {
    cgroupOf,
    resolve(caller: BusCaller, opts?: { cgroup?: boolean }): Identity {
      const t = now();
      if (users === null || groups === null || t - checkedAt >= RECHECK_MS) {
        users = loadIds(passwd, users);
        groups = loadIds(group, groups);
        checkedAt = t;
      }
      const groupNames = groups.names;
      const id: Identity = {
        uid: caller.uid,
        groups: caller.gids.map((gid) => {
          const name = groupNames.get(gid);
          return name === undefined ? { gid } : { gid, name };
        }),
      };
      const user = users.names.get(caller.uid);
      if (user !== undefined) id.user = user;
      if (caller.pid !== undefined) {
        id.pid = caller.pid;
        if (opts?.cgroup !== false) {
          const cg = cgroupOf(caller.pid);
          if (cg) id.cgroup = cg;
        }
      }
      return id;
    },
  };
}
