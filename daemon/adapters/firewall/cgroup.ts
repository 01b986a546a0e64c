/**
 * cgroup paths (as in /proc/PID/cgroup, `0::/a/b`) → what nft needs to match them.
 *
 * nft 1.0.6 only takes a cgroup as a path, which it resolves itself under the fixed directory
 * /sys/fs/cgroup (it stats `/sys/fs/cgroup/<path>` and stores the inode number, the cgroup id).
 * cgroup2 is not always mounted there: hybrid systems mount it at /sys/fs/cgroup/unified, and
 * `ip netns exec` replaces /sys with a fresh sysfs that has no cgroup mounts at all. So the path
 * handed to nft is the cgroup's directory relative to /sys/fs/cgroup, wherever cgroup2 is
 * mounted in this mount namespace; and the id is read here too, so the diff can tell a cgroup
 * that was removed and created again (same path, new id).
 */
import { readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';

/** A cgroup path resolved on this machine (createCgroupResolver). */
export interface CgroupRef {
  /** cgroup id (the directory's inode number), decimal. */
  id: string;
  /** The path as nft wants it: relative to /sys/fs/cgroup, without a leading slash. */
  nftPath: string;
  /** Depth below the cgroup2 root (`/a/b` → 2): the `level` of `socket cgroupv2`. */
  level: number;
}

/** Where nft looks for cgroups. */
export const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

/** Undoes mountinfo's octal escapes (`\040` for a space). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The mount point of the cgroup2 hierarchy in a `/proc/self/mountinfo` text, or null. Only
 * mounts of the hierarchy's root count; /sys/fs/cgroup itself is preferred, then a mount below it.
 */
export function findCgroup2Mount(mountinfo: string): string | null {
  const found: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0 || fields[dash + 1] !== 'cgroup2' || fields[3] !== '/') continue;
    const mountPoint = fields[4];
    if (mountPoint !== undefined) found.push(unescapeMount(mountPoint));
  }
  return (
    found.find((m) => m === NFT_CGROUP_ROOT) ??
    found.find((m) => m.startsWith(`${NFT_CGROUP_ROOT}/`)) ??
    found[0] ??
    null
  );
}

/** `/a/b` → ['a', 'b']; null for a path that is not absolute and plain. */
export function cgroupComponents(path: string): string[] | null {
  if (!path.startsWith('/')) return null;
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) return null;
  if (/["\\\x00-\x1f\x7f]/.test(path)) return null;
  return parts;
}

/** Options of {@link createCgroupResolver}. */
export interface CgroupResolverOptions {
  /** mountinfo text (default: /proc/self/mountinfo, read once per resolver). */
  mountinfo?: string;
  /** Reads a directory's inode number (default: stat); null when it does not exist. */
  inodeOf?: (dir: string) => string | null;
}

function statInode(dir: string): string | null {
  try {
    const st = statSync(dir, { bigint: true });
    return st.isDirectory() ? st.ino.toString() : null;
  } catch {
    return null;
  }
}

/** A resolver for the current mounts: null for a path that does not exist or cannot be named. */
export function createCgroupResolver(opts: CgroupResolverOptions = {}): (path: string) => CgroupRef | null {
  let mountinfo = opts.mountinfo;
  if (mountinfo === undefined) {
    try {
      mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      mountinfo = '';
    }
  }
  const mount = findCgroup2Mount(mountinfo);
  const inodeOf = opts.inodeOf ?? statInode;
  return (path) => {
    if (mount === null) return null;
    const parts = cgroupComponents(path);
    if (parts === null) return null;
    const dir = posix.join(mount, ...parts);
    const id = inodeOf(dir);
    if (id === null) return null;
    const nftPath = posix.relative(NFT_CGROUP_ROOT, dir) || '.';
    return { id, nftPath, level: parts.length };
  };
}
