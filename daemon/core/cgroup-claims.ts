/**
 * Cgroups a session claims itself (`org.netsession.Session1.ClaimCgroup`), beside the identity
 * its policy group claims: the rules for which paths and which callers. Pure: whether the
 * directory exists and who owns it is found out by the runtime and handed in.
 */
import { BadCgroupPathError, CgroupClaimLimitError, CgroupNotFoundError, CgroupNotOwnedError } from './errors.js';

/** How many cgroups one session may claim (each is a classifier in the kernel). */
export const MAX_CGROUP_CLAIMS = 16;

/** xt_cgroup's path field is `char path[XT_CGROUP_PATH_MAX]` (512, NUL included); nft allows more. */
const MAX_PATH_BYTES = 512;

/**
 * Throws {@link BadCgroupPathError} unless `path` is absolute and already normalised (`/a/b`: no
 * empty, `.` or `..` component, no trailing slash, not the root cgroup), without characters the
 * firewall rules cannot quote. Normalising silently would let `/a/../b` claim what it does not
 * name; so a caller must send the path exactly as it means it.
 */
export function checkCgroupPath(path: string): void {
  const bad = (reason: string): never => {
    throw new BadCgroupPathError(path, reason);
  };
  if (!path.startsWith('/')) bad('it must be absolute');
  if (path === '/') bad('the root cgroup holds every process');
  if (new TextEncoder().encode(path).length >= MAX_PATH_BYTES) bad(`it is ${MAX_PATH_BYTES} bytes or longer`);
  // The firewall backends quote paths in nft scripts and iptables-restore lines.
  if (/["\\\x00-\x1f\x7f]/.test(path)) bad('it contains a quote, a backslash or a control character');
  const parts = path.slice(1).split('/');
  if (parts.some((p) => p === '')) bad('it has an empty component or a trailing slash');
  if (parts.some((p) => p === '.' || p === '..')) bad("it has a '.' or '..' component");
}

/** What the runtime found at the cgroup's directory: its owner uid, or null when it does not exist. */
export type CgroupDirOwner = number | null;

/**
 * The permission rule: root may claim any cgroup that exists; anyone else only a cgroup whose
 * directory they own (a delegated subtree, or one they created: they control its processes anyway).
 */
export function checkCgroupOwner(path: string, callerUid: number, dirOwner: CgroupDirOwner): void {
  if (dirOwner === null) throw new CgroupNotFoundError(path);
  if (callerUid !== 0 && dirOwner !== callerUid) throw new CgroupNotOwnedError(path, callerUid);
}

/** Adds `path` to a session's claims (a no-op when already there); throws at the limit. */
export function addClaim(claims: readonly string[], path: string): string[] {
  if (claims.includes(path)) return [...claims];
  if (claims.length >= MAX_CGROUP_CLAIMS) throw new CgroupClaimLimitError(MAX_CGROUP_CLAIMS);
  return [...claims, path];
}
