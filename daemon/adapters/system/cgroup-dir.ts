/**
 * CgroupDirectory over the cgroup2 mount of the daemon's mount namespace: who owns a cgroup's
 * directory (ClaimCgroup lets a non-root caller claim only its own). The mount is looked up on
 * every call, as the firewall backends do: cgroup2 may be mounted after the daemon started.
 */
import { lstat, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { CgroupDirectory } from '../../ports.js';
import { cgroupComponents, findCgroup2Mount } from '../firewall/cgroup.js';

/** Options of {@link createCgroupDirectory} (tests hand in their own mountinfo and stat). */
export interface CgroupDirectoryOptions {
  readMountinfo?: () => Promise<string>;
  /** The owner uid of a directory, or null when it is not one (or does not exist). */
  dirOwner?: (dir: string) => Promise<number | null>;
}

async function statOwner(dir: string): Promise<number | null> {
  try {
    // lstat: a symlink planted in a delegated subtree must not lend its target's owner.
    const st = await lstat(dir);
    return st.isDirectory() ? st.uid : null;
  } catch {
    return null;
  }
}

/** The cgroup directory inspector for this process's mounts. */
export function createCgroupDirectory(opts: CgroupDirectoryOptions = {}): CgroupDirectory {
  const readMountinfo = opts.readMountinfo ?? (() => readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
  const dirOwner = opts.dirOwner ?? statOwner;
  return {
    async ownerOf(path) {
      const parts = cgroupComponents(path);
      if (parts === null || parts.length === 0) return null;
      const mount = findCgroup2Mount(await readMountinfo());
      if (mount === null) return null;
      return dirOwner(posix.join(mount, ...parts));
    },
  };
}
