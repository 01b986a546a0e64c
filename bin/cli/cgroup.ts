/**
 * The cgroup `run` puts its command in. The daemon marks traffic by cgroupv2 membership, so the
 * command does not need the SDK: a fresh cgroup is made for it, claimed for its session, and the
 * command is moved in before it execs.
 *
 * Where: root gets `<cgroup2 mount>/netsession.run/<pid>`; anyone else a child of their own
 * cgroup (`<own cgroup>/netsession.run.<pid>`), which systemd delegates to the user and which
 * the daemon lets them claim because they own the directory. The path the daemon is told is the
 * cgroup's path in the hierarchy (`/netsession.run/<pid>`), which is the same in every mount
 * namespace, so the daemon finds it under its own cgroup2 mount.
 */
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { posix } from 'node:path';

/** A cgroup2 mount: where it is, and which part of the hierarchy it shows (`/` normally). */
export interface Cgroup2Mount {
  mountPoint: string;
  root: string;
}

/** Undoes mountinfo's octal escapes (`\040` for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The cgroup2 mounts in a `/proc/self/mountinfo` text; the whole hierarchy's (root `/`) first. */
export function cgroup2Mounts(mountinfo: string): Cgroup2Mount[] {
  const found: Cgroup2Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0 || f[dash + 1] !== 'cgroup2' || f[3] === undefined || f[4] === undefined) continue;
    found.push({ root: unescapeMount(f[3]), mountPoint: unescapeMount(f[4]) });
  }
  return found.sort((a, b) => Number(b.root === '/') - Number(a.root === '/'));
}

/** The cgroupv2 path in a `/proc/self/cgroup` text (`0::/a/b` → `/a/b`), or null. */
export function ownCgroup(procCgroup: string): string | null {
  for (const line of procCgroup.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3) || '/';
  }
  return null;
}

/** Where one run's cgroup goes: `dir` on this machine's mount, `path` as the daemon names it. */
export interface RunCgroupPlan {
  dir: string;
  path: string;
}

/**
 * Plans the run's cgroup (pure). Throws a plain Error with the reason when there is no usable
 * cgroup2 mount.
 */
export function planRunCgroup(opts: {
  mountinfo: string;
  procCgroup: string;
  uid: number;
  pid: number;
}): RunCgroupPlan {
  const mount = cgroup2Mounts(opts.mountinfo)[0];
  if (!mount) throw new Error('no cgroup2 file system is mounted (run needs cgroup v2, usually at /sys/fs/cgroup)');
  let path: string;
  if (opts.uid === 0) {
    path = posix.join(mount.root, 'netsession.run', String(opts.pid));
  } else {
    const own = ownCgroup(opts.procCgroup);
    if (own === null) throw new Error('this process is in no cgroup v2 group (see /proc/self/cgroup)');
    path = posix.join(own, `netsession.run.${opts.pid}`);
  }
  // The mount shows the hierarchy from `root` down: a path outside it cannot be reached here.
  const rel = posix.relative(mount.root, path);
  if (rel.startsWith('..')) throw new Error(`cgroup ${path} is outside the cgroup2 mount at ${mount.mountPoint}`);
  return { dir: posix.join(mount.mountPoint, rel), path };
}

/** A created cgroup; `remove()` deletes it once it is empty. */
export interface RunCgroup extends RunCgroupPlan {
  /** The file a process writes its pid to, to move itself in. */
  procs: string;
  /** Removes the directory; false when processes are still in it (it is left in place). */
  remove(): Promise<boolean>;
}

/** Creates the run's cgroup for this process. */
export async function createRunCgroup(): Promise<RunCgroup> {
  const [mountinfo, procCgroup] = await Promise.all([
    readFile('/proc/self/mountinfo', 'utf8'),
    readFile('/proc/self/cgroup', 'utf8').catch(() => ''),
  ]);
  const plan = planRunCgroup({ mountinfo, procCgroup, uid: process.getuid?.() ?? 0, pid: process.pid });
  await mkdir(posix.dirname(plan.dir), { recursive: true });
  await mkdir(plan.dir);
  return {
    ...plan,
    procs: posix.join(plan.dir, 'cgroup.procs'),
    async remove() {
      try {
        await rmdir(plan.dir);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
        return false;
      }
    },
  };
}
