/**
 * Can this machine run integration tests? Tests skip with a printed reason when it cannot —
 * unless `NETSESSION_INTEGRATION=require` is set (CI), which turns a missing prerequisite into a
 * failure so a broken runner cannot pass by skipping everything.
 */
import { execFileSync } from 'node:child_process';

/** Debian packages the harness needs (iproute2 for ip, nftables for nft, dbus for dbus-daemon). */
export const REQUIRED_TOOLS = ['ip', 'nft', 'dbus-daemon', 'dbus-send', 'sysctl', 'setpriv'] as const;

let cached: string | null | undefined;

function works(argv: string[]): boolean {
  const [file, ...args] = argv;
  if (!file) return false;
  try {
    execFileSync(file, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Why integration tests cannot run here, or null when they can. */
export function integrationSkipReason(): string | null {
  if (cached !== undefined) return cached;
  cached = (() => {
    if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
    if (process.getuid?.() !== 0) return 'needs root (network namespaces, nftables)';
    const missing = REQUIRED_TOOLS.filter((tool) => !works(['sh', '-c', `command -v ${tool}`]));
    if (missing.length)
      return `missing tools: ${missing.join(', ')} (apt-get install -y iproute2 nftables dbus util-linux procps)`;
    if (!works(['ip', 'netns', 'list'])) return '`ip netns` does not work here';
    return null;
  })();
  return cached;
}

/**
 * True when integration tests can run. Otherwise prints the reason (and returns false), or throws
 * when `NETSESSION_INTEGRATION=require`.
 */
export function requireRoot(): boolean {
  const reason = integrationSkipReason();
  if (reason === null) return true;
  if (process.env.NETSESSION_INTEGRATION === 'require')
    throw new Error(`integration tests required but cannot run: ${reason}`);
  console.warn(`[integration] skipping: ${reason}`);
  return false;
}
