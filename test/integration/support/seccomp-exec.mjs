// Loads a seccomp filter the way systemd builds one for SystemCallFilter=, SystemCallErrorNumber=,
// SystemCallArchitectures=native, RestrictAddressFamilies=, RestrictNamespaces= and
// LockPersonality= (libseccomp, through koffi), then execve()s the command, which inherits it.
// argv[2]: JSON { allow: syscall names, families: numbers }; then the command (absolute path first).
import koffi from 'koffi';

const cfg = JSON.parse(process.argv[2]);
const lib = koffi.load('libseccomp.so.2');
const seccomp_init = lib.func('void *seccomp_init(uint32_t)');
const resolve = lib.func('int seccomp_syscall_resolve_name(const char *)');
const ruleArray = lib.func('int seccomp_rule_add_array(void *, uint32_t, int, unsigned int, const void *)');
const load = lib.func('int seccomp_load(void *)');
const libc = koffi.load('libc.so.6');
const execve = libc.func('int execve(const char *, const char **, const char **)');
const fcntl = libc.func('int fcntl(int, int, int)');

// Node marks its stdio close-on-exec and non-blocking; the command must get them as a shell would.
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
for (const fd of [0, 1, 2]) {
  fcntl(fd, F_SETFD, 0);
  const fl = fcntl(fd, F_GETFL, 0);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

const ERRNO = (e) => (0x00050000 | e) >>> 0;
const ALLOW = 0x7fff0000;
const EPERM = 1;
const ENOSYS = 38;
const CMP_EQ = 4;
const CMP_MASKED_EQ = 7;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME (systemd's mask). */
const CLONE_NEW = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

function cmp(arg, op, a, b = 0) {
  const buf = Buffer.alloc(24);
  buf.writeUInt32LE(arg, 0);
  buf.writeInt32LE(op, 4);
  buf.writeBigUInt64LE(BigInt(a), 8);
  buf.writeBigUInt64LE(BigInt(b), 16);
  return buf;
}

const ctx = seccomp_init(ERRNO(EPERM));
const add = (name, action, cond) => {
  const nr = resolve(name);
  if (nr < 0) return; // not on this architecture
  if (ruleArray(ctx, action, nr, cond ? 1 : 0, cond ?? null) < 0) throw new Error(`seccomp rule for ${name} failed`);
};
const special = new Set(['socket', 'clone', 'clone3', 'unshare', 'setns', 'personality']);
for (const name of cfg.allow) if (!special.has(name)) add(name, ALLOW);
// RestrictAddressFamilies=: socket() only for the listed families.
if (cfg.allow.includes('socket')) for (const f of cfg.families) add('socket', ALLOW, cmp(0, CMP_EQ, f));
// RestrictNamespaces=yes: clone() without namespace flags; clone3 answers ENOSYS (glibc falls
// back to clone); unshare and setns are refused.
if (cfg.allow.includes('clone')) add('clone', ALLOW, cmp(0, CMP_MASKED_EQ, CLONE_NEW, 0));
add('clone3', ERRNO(ENOSYS));
// LockPersonality=yes: only PER_LINUX, and the query.
if (cfg.allow.includes('personality')) {
  add('personality', ALLOW, cmp(0, CMP_EQ, 0));
  add('personality', ALLOW, cmp(0, CMP_EQ, 0xffffffff));
}
if (load(ctx) < 0) throw new Error('seccomp_load failed');
const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
const argv = process.argv.slice(3);
execve(argv[0], [...argv, null], [...env, null]);
throw new Error(`execve ${argv[0]} failed (errno ${koffi.errno()})`);
