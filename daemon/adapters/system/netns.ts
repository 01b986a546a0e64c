/**
 * Is this process in the machine's root network namespace? The daemon refuses to run there
 * unless told to, because it would then manage the host's own links.
 *
 * Answers true unless it can prove otherwise: PID 1's namespace when /proc/1 is readable (in
 * some sandboxes it is not, even for root); else the kernel's fixed inode of the initial
 * namespace (PROC_NET_INIT_INO, 0xEFFFFFF9 on current kernels); else membership of a
 * namespace named by `ip netns` (bind mounts in /run/netns). Unprovable means "root".
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';

const PROC_NET_INIT_INO = 0xeffffff9;
const NAMED_NETNS_DIRS = ['/run/netns', '/var/run/netns'];

function nsInode(path: string): number | null {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(path));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function namedNamespaceInodes(): Set<number> {
  const out = new Set<number>();
  for (const dir of NAMED_NETNS_DIRS) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        out.add(statSync(`${dir}/${n}`).ino);
      } catch {
        // A stale entry (namespace already deleted) proves nothing.
      }
    }
  }
  return out;
}

export function inRootNetns(): boolean {
  const self = nsInode('/proc/self/ns/net');
  if (self === null) return true;
  const init = nsInode('/proc/1/ns/net');
  if (init !== null) return self === init;
  if (self === PROC_NET_INIT_INO) return true;
  return !namedNamespaceInodes().has(self);
}
