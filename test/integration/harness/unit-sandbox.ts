/**
 * The restrictions of daemon/netsessiond.service, applied to a daemon started by the tests,
 * without systemd as PID 1 (this container has none, so `systemd-run -p …` cannot be used).
 * Each property's effect is reproduced with the kernel mechanism systemd itself uses:
 *
 * | unit property | here |
 * |---|---|
 * | ProtectSystem=strict, ReadWritePaths= | every mount remounted read-only in a private mount namespace, except /run and the sandbox's directory (the stand-in for /var/lib/netsession and the bus socket) |
 * | ProtectHome=yes, PrivateTmp=yes | mode-000 tmpfs over /home, /root, /run/user; fresh tmpfs on /tmp and /var/tmp (the checkout, standing for the installed package, is bound back read-only) |
 * | PrivateDevices=yes | a new /dev with null, zero, full, random, urandom, tty, shm, pts |
 * | ProtectKernelTunables=yes + ReadWritePaths=/proc/sys/net | /proc/sys and /sys read-only, /proc/sys/net writable |
 * | ProtectControlGroups=yes, ProtectKernelLogs=yes | cgroup mounts read-only; /proc/kmsg inaccessible |
 * | CapabilityBoundingSet=, NoNewPrivileges=yes | setpriv --bounding-set, --inh-caps -all, --no-new-privs |
 * | SystemCallFilter=, SystemCallErrorNumber=, SystemCallArchitectures=native, RestrictAddressFamilies=, RestrictNamespaces=yes, LockPersonality=yes | a seccomp filter built with libseccomp from `systemd-analyze syscall-filter`'s own groups (support/seccomp-exec.mjs) |
 * | UMask=0077 | umask |
 * | MemoryMax=, TasksMax= | cgroup v1 memory and pids controllers, when writable |
 *
 * Not reproduced (and so not proven by the test): RestrictRealtime, RestrictSUIDSGID,
 * ProtectClock's device rule, ProtectHostname's UTS namespace, RemoveIPC, KeyringMode.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { REPO_ROOT } from './daemon.js';

export const UNIT_FILE = `${REPO_ROOT}daemon/netsessiond.service`;

/** `Key=value` lines of the unit's [Service] section; repeated keys keep every value. */
export function unitProperties(text = readFileSync(UNIT_FILE, 'utf8')): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let inService = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) inService = line === '[Service]';
    else if (inService && line && !line.startsWith('#')) {
      const eq = line.indexOf('=');
      const k = line.slice(0, eq);
      out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
    }
  }
  return out;
}

/** `systemd-analyze security --offline=yes` of the unit: its overall exposure figure. */
export function exposure(): { score: number; report: string } {
  const report = execFileSync('systemd-analyze', ['security', '--offline=yes', UNIT_FILE], { encoding: 'utf8' });
  const m = /Overall exposure level for \S+: ([\d.]+)/.exec(report);
  if (!m) throw new Error(`no exposure figure in:\n${report}`);
  return { score: Number(m[1]), report };
}

/** The syscall names a SystemCallFilter= list allows, groups expanded by systemd-analyze itself. */
export function allowedSyscalls(filters: string[]): string[] {
  const groups = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const line of execFileSync('systemd-analyze', ['syscall-filter'], { encoding: 'utf8' }).split('\n')) {
    if (/^@\S+$/.test(line)) groups.set(line, (cur = []));
    else if (cur && /^\s+[@\w]/.test(line)) cur.push(line.trim());
  }
  const expand = (names: string[], seen = new Set<string>()): Set<string> => {
    const out = new Set<string>();
    for (const n of names) {
      if (!n.startsWith('@')) out.add(n);
      else if (!seen.has(n)) {
        seen.add(n);
        for (const x of expand(groups.get(n) ?? [], seen)) out.add(x);
      }
    }
    return out;
  };
  let allow = new Set<string>();
  for (const f of filters) {
    if (f.startsWith('~')) for (const x of expand(f.slice(1).split(/\s+/))) allow.delete(x);
    else allow = new Set([...allow, ...expand(f.split(/\s+/))]);
  }
  return [...allow].sort();
}

const FAMILIES: Record<string, number> = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10, AF_NETLINK: 16, AF_PACKET: 17 };

const MOUNTS = `set -e
R=$1; S=$2; CG=$3; shift 3
umask 077
T=$(mktemp -d /run/.ns-unit.XXXXXX)
mount -t tmpfs -o mode=0700 ns-unit "$T"
mkdir "$T/repo" "$T/sb" "$T/dev" "$T/cg"
# MemoryMax=, TasksMax=: join the limited cgroups (ip netns exec's /sys has no cgroup mounts)
for c in $CG; do
  mount -t cgroup -o "\${c%%:*}" ns-cg "$T/cg"
  echo $$ > "$T/cg/\${c#*:}/cgroup.procs"
  umount "$T/cg"
done
mount --bind "$R" "$T/repo"
mount -o remount,bind,ro "$T/repo"
mount --bind "$S" "$T/sb"
# ProtectHome=yes, PrivateTmp=yes
for d in /home /root /run/user; do if [ -d "$d" ]; then mount -t tmpfs -o mode=0000 ns-unit "$d"; fi; done
mount -t tmpfs -o mode=1777 ns-unit /tmp
mount -t tmpfs -o mode=1777 ns-unit /var/tmp
mkdir -p "$R" "$S"
mount --move "$T/repo" "$R"
mount --move "$T/sb" "$S"
# PrivateDevices=yes
D=$T/dev
mount -t tmpfs -o mode=0755 ns-dev "$D"
for n in null zero full random urandom tty; do touch "$D/$n"; mount --bind "/dev/$n" "$D/$n"; done
mkdir "$D/shm" "$D/pts"
mount -t tmpfs -o mode=1777 ns-shm "$D/shm"
ln -s /proc/self/fd "$D/fd"; ln -s /proc/self/fd/0 "$D/stdin"; ln -s /proc/self/fd/1 "$D/stdout"; ln -s /proc/self/fd/2 "$D/stderr"
mount --move "$D" /dev
umount "$T"; rmdir "$T"
# ProtectSystem=strict (ReadWritePaths=/run and the sandbox dir stay writable; PrivateTmp's are the service's own)
for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/run|/run/*|/tmp|/var/tmp|"$S"|"$S"/*|"$R") continue;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
# ProtectKernelTunables=yes (+ ReadWritePaths=/proc/sys/net), ProtectControlGroups=yes, ProtectKernelLogs=yes
mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net; mount -o remount,bind,rw /proc/sys/net
for m in $(awk '{print $5}' /proc/self/mountinfo | grep '^/sys' | sort -u); do mount -o remount,bind,ro "$m" 2>/dev/null || true; done
if [ -e /proc/kmsg ]; then mount --bind /dev/null /proc/kmsg; fi
exec "$@"`;

/** A daemon wrapper (harness `wrap`) applying the unit's restrictions, and its cleanup. */
export function unitSandbox(sandboxDir: string): { wrap: string[]; applied: string[]; cleanup: () => void } {
  const p = unitProperties();
  const one = (k: string) => p.get(k)?.at(-1) ?? '';
  const applied: string[] = [];
  const cgroups: string[] = [];
  const id = `ns-unit-${process.pid}-${Date.now()}`;
  const limit = (ctl: string, file: string, value: string, prop: string) => {
    const dir = `/sys/fs/cgroup/${ctl}/${id}`;
    try {
      mkdirSync(dir);
      writeFileSync(`${dir}/${file}`, value);
      cgroups.push(`${ctl}:${id}`);
      applied.push(`${prop} (cgroup v1 ${ctl}.${file.split('.').slice(1).join('.')})`);
    } catch {
      if (existsSync(dir)) rmdirSync(dir);
    }
  };
  const mem = /^(\d+)([KMG]?)$/.exec(one('MemoryMax'));
  if (mem)
    limit(
      'memory',
      'memory.limit_in_bytes',
      String(Number(mem[1]) * { '': 1, K: 1024, M: 1 << 20, G: 1 << 30 }[mem[2] as '' | 'K' | 'M' | 'G']),
      `MemoryMax=${one('MemoryMax')}`,
    );
  if (one('TasksMax')) limit('pids', 'pids.max', one('TasksMax'), `TasksMax=${one('TasksMax')}`);
  const caps = one('CapabilityBoundingSet')
    .split(/\s+/)
    .map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
  const seccomp = {
    allow: allowedSyscalls(p.get('SystemCallFilter') ?? []),
    families: one('RestrictAddressFamilies')
      .split(/\s+/)
      .map((f) => FAMILIES[f]!),
  };
  if (one('NoNewPrivileges') !== 'yes' || one('SystemCallErrorNumber') !== 'EPERM')
    throw new Error('the unit changed: update harness/unit-sandbox.ts');
  const wrap = [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    MOUNTS,
    'unit-sandbox',
    REPO_ROOT.replace(/\/$/, ''),
    sandboxDir,
    cgroups.join(' '),
    'setpriv',
    '--no-new-privs',
    '--bounding-set',
    `-all,${caps.join(',')}`,
    '--inh-caps',
    '-all',
    '--',
    process.execPath,
    `${REPO_ROOT}test/integration/support/seccomp-exec.mjs`,
    JSON.stringify(seccomp),
  ];
  applied.push(
    `CapabilityBoundingSet=${one('CapabilityBoundingSet')}`,
    `SystemCallFilter= (${seccomp.allow.length} syscalls)`,
    `RestrictAddressFamilies=${one('RestrictAddressFamilies')}`,
  );
  return {
    wrap,
    applied,
    cleanup: () => {
      // The wrapper removes its scratch directory itself, unless it failed half-way.
      for (const d of readdirSync('/run').filter((n) => n.startsWith('.ns-unit.'))) {
        try {
          rmdirSync(`/run/${d}`);
        } catch {
          // Not empty or in use by a run still going: not ours to force.
        }
      }
      for (const c of cgroups) {
        try {
          rmdirSync(`/sys/fs/cgroup/${c.replace(':', '/')}`);
        } catch {
          // Still has a task (the daemon not yet reaped): the kernel frees it with the last one.
        }
      }
    },
  };
}
