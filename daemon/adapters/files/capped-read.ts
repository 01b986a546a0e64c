/**
 * Reading files the daemon does not control (policy, provisioning, configuration, saved
 * settings) without letting them stall or bloat it. Opened non-blocking (a FIFO would otherwise
 * block until a writer comes), checked with fstat on the open descriptor before any byte is read
 * (only regular files; a symlink to /dev/zero is a character device and is refused), and read to
 * at most `maxBytes` (a file that grows while it is read is refused, never read to its end).
 * Symlinks to regular files are followed: operators link policy files from elsewhere.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { DEFAULT_MAX_FILE_BYTES, FILE_SIZE_CAP, overCap } from '../../file-caps.js';

/** A file that exists but may not be read (not a regular file, too big, not UTF-8 text). */
export class FileRefusedError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'FileRefusedError';
  }
}

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
const CHUNK = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function check(path: string, st: Stats, maxBytes: number): void {
  if (!st.isFile()) throw new FileRefusedError(path, `${kind(st)}, not a regular file`);
  if (st.size > maxBytes) throw new FileRefusedError(path, overCap(`${st.size} bytes`, maxBytes, FILE_SIZE_CAP));
}

function decode(path: string, bytes: Uint8Array, maxBytes: number): string {
  if (bytes.length > maxBytes)
    throw new FileRefusedError(
      path,
      overCap(`more than ${maxBytes} bytes (it grew while read)`, maxBytes, FILE_SIZE_CAP),
    );
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FileRefusedError(path, 'not UTF-8 text');
  }
}

/** Appends chunks until EOF or one byte past the cap (enough to know it is over). */
function collect(readChunk: (buf: Buffer) => number, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  while (total <= maxBytes) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
    const n = readChunk(buf);
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    total += n;
  }
  return Buffer.concat(chunks, total);
}

/**
 * The text of `path`, or null when it does not exist.
 * @throws FileRefusedError for anything but a regular UTF-8 file of at most `maxBytes`; other
 *   errors (EACCES, ELOOP, EISDIR …) as thrown by the system.
 */
export async function readCappedFile(path: string, maxBytes = DEFAULT_MAX_FILE_BYTES): Promise<string | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    check(path, await fh.stat(), maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= maxBytes) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
    return decode(path, Buffer.concat(chunks, total), maxBytes);
  } finally {
    await fh.close();
  }
}

/** {@link readCappedFile} for start-up code that runs before the event loop matters. */
export function readCappedFileSync(path: string, maxBytes = DEFAULT_MAX_FILE_BYTES): string | null {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    check(path, fstatSync(fd), maxBytes);
    return decode(
      path,
      collect((buf) => readSync(fd, buf, 0, buf.length, null), maxBytes),
      maxBytes,
    );
  } finally {
    closeSync(fd);
  }
}
