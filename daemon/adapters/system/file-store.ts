/**
 * The Store port over a directory (the daemon's state dir): one file per key, each replaced
 * atomically so that a crash or power loss leaves either the old or the new content, never a
 * mix and never an empty file.
 *
 * One FileStore should own a directory: writes of a key are serialised inside one store, not
 * across processes or across two stores over the same directory.
 */
import { randomBytes } from 'node:crypto';
import { access, chmod, constants, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_MAX_FILE_BYTES } from '../../file-caps.js';
import type { Store } from '../../ports.js';
import { readCappedFile } from '../files/capped-read.js';

/** A key that is not a safe file name. */
export class StoreKeyError extends Error {
  constructor(key: string) {
    super(`invalid store key ${JSON.stringify(key)}`);
    this.name = 'StoreKeyError';
  }
}

/**
 * Keys are plain file names: no separators, no NUL, no `.`/`..`, and no leading dot, which keeps
 * them disjoint from the temp files ({@link tempName}), so a stale temp can never be read as a key.
 */
const KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/** True when `key` may name a file in a FileStore. */
export function isValidStoreKey(key: string): boolean {
  return KEY_RE.test(key);
}

/** `.<target>.<pid>.<random>.tmp`: the pid tells whether the writer may still be alive. */
const TEMP_RE = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

function tempName(target: string): string {
  return `.${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** fsync of a directory, so a completed rename survives a power loss. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    // Some filesystems cannot fsync a directory; the rename is still atomic there.
    if (errno(e) !== 'EINVAL' && errno(e) !== 'ENOTSUP') throw e;
  } finally {
    await fh.close();
  }
}

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600). */
  mode?: number;
}

/**
 * Replaces `path` with `data` atomically and durably: writes a temp file in the same directory
 * (rename is only atomic within one filesystem), fsyncs it, renames it over `path`, then fsyncs
 * the directory. Without the first fsync a crash after the rename could leave an empty file
 * (delayed allocation); without the second the rename itself could be lost.
 *
 * Concurrent calls for one path each use their own temp file, so contents never interleave;
 * which one lands last is up to the caller to order (FileStore serialises per key).
 */
export async function writeFileAtomic(path: string, data: string, opts: AtomicWriteOptions = {}): Promise<void> {
  const mode = opts.mode ?? 0o600;
  const dir = dirname(path);
  const tmp = join(dir, tempName(basename(path)));
  let renamed = false;
  try {
    // 'wx': never follow or reuse something planted at the temp name.
    const fh = await open(tmp, 'wx', mode);
    try {
      // The umask may have narrowed the mode; a resolv.conf must really be 0644.
      await fh.chmod(mode);
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    renamed = true;
    await syncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => {});
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return errno(e) === 'EPERM';
  }
}

/**
 * Removes temp files left in `dir` by writers that died mid-write (their pid is gone). Temps of
 * live processes, this one included, may be in flight and are left alone; any leftover is
 * harmless since no key can name it. Returns the names removed.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || processAlive(pid)) continue;
    try {
      await unlink(join(dir, name));
      removed.push(name);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
  }
  return removed;
}

/** A Store over one directory. */
export interface FileStore extends Store {
  /** The directory holding the files. */
  readonly dir: string;
}

/** Options of {@link openFileStore}. */
export interface FileStoreOptions {
  /** Largest file `read` accepts (default MaxFileSize, 256 KiB); bigger ones throw FileRefusedError. */
  maxFileBytes?: number;
}

/**
 * Opens (creating it if missing, mode 0700) the store directory `dir` and removes stale temp
 * files left by a crash. Files are written with mode 0600: settings are the daemon's business.
 * `read` of a missing key is null; invalid keys throw {@link StoreKeyError}; a key's file that is
 * not a regular file, or too big, throws FileRefusedError (capped-read.ts).
 *
 * A directory that exists but cannot be written (read-only mount, wrong owner) opens as a store
 * with `writable: false`: its files can still be read. One that is missing and cannot be
 * created, or is not a directory, throws.
 */
export async function openFileStore(dir: string, opts: FileStoreOptions = {}): Promise<FileStore> {
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error(`${dir}: not a directory`), { code: 'ENOTDIR' });
  const writable = await access(dir, constants.W_OK).then(
    () => true,
    () => false,
  );
  if (writable) {
    // mkdir leaves an existing directory's mode alone (and the umask may narrow a new one).
    await chmod(dir, 0o700);
    await removeStaleTemps(dir);
  }

  /** The last queued write per key: later writes chain after it, so the last call lands last. */
  const pending = new Map<string, Promise<void>>();

  const check = (key: string): string => {
    if (!isValidStoreKey(key)) throw new StoreKeyError(key);
    return join(dir, key);
  };

  return {
    dir,
    writable,
    describe: (key) => join(dir, key),
    async read(key) {
      const path = check(key);
      // Read-your-writes: a read issued after a write sees it (or its failure's previous value).
      await pending.get(key)?.catch(() => {});
      return readCappedFile(path, maxBytes);
    },
    write(key, data) {
      let path: string;
      try {
        path = check(key);
      } catch (e) {
        return Promise.reject(e);
      }
      const prev = pending.get(key);
      const next = (prev ? prev.catch(() => {}) : Promise.resolve()).then(() => writeFileAtomic(path, data));
      pending.set(key, next);
      const forget = () => {
        if (pending.get(key) === next) pending.delete(key);
      };
      next.then(forget, forget);
      return next;
    },
  };
}
