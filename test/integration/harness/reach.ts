/**
 * Commands the tests run as another uid (nobody, test users) execute files from the checkout and
 * from node's install. A clone under a directory other users cannot enter (root's home, any
 * `mktemp -d`: mode 0700) would make them fail with EACCES. Instead of copying the checkout, the
 * command gets a private mount namespace in which those files are reachable at the same paths:
 * each needed path is bind-mounted aside, a tmpfs (mode 0755) is put over the topmost directory
 * others cannot enter, the path is re-created in it and the bind moved back. Nothing changes
 * outside that namespace; the one scratch directory per path is removed right after.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { REPO_ROOT } from './daemon.js';

/** The topmost ancestor of `path` that others cannot traverse (no o+x), or null. */
export function blockingAncestor(path: string): string | null {
  let found: string | null = null;
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) found = dir;
    } catch {
      return found;
    }
    if (dir === '/') return found;
  }
}

const SCRIPT = `set -e
A=$1; shift
moves=""
while [ "$1" != "--" ]; do
  t=$(mktemp -d /tmp/.ns-reach.XXXXXX)
  mount --bind "$1" "$t"
  moves="$moves $t:$1"
  shift
done
shift
mount -t tmpfs -o mode=0755 ns-reach "$A"
for m in $moves; do
  t=\${m%%:*}; p=\${m#*:}
  mkdir -p "$p"
  mount --move "$t" "$p"
  rmdir "$t"
done
exec "$@"`;

let cached: string[] | undefined;

/**
 * The argv prefix that makes the checkout (and node) reachable for another uid, or [] when
 * nothing blocks them. Needs root (it runs before the switch to the other uid).
 */
export function reachPrefix(): string[] {
  if (cached) return cached;
  const needed = [REPO_ROOT.replace(/\/$/, ''), dirname(dirname(process.execPath))];
  const blocked = needed.map((p) => ({ p, a: blockingAncestor(`${p}/x`) })).filter((x) => x.a !== null);
  if (blocked.length === 0) return (cached = []);
  // One tmpfs, over the highest blocking directory; paths under it are moved back in.
  const top = blocked.map((b) => b.a!).sort((x, y) => x.length - y.length)[0]!;
  const under = needed.filter((p) => p === top || p.startsWith(`${top}/`));
  cached = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', SCRIPT, 'ns-reach', top, ...under, '--'];
  return cached;
}
