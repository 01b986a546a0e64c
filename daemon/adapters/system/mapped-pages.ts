/**
 * Gives back the resident pages of read-only file mappings — the node binary above all — that
 * the daemon touched once and no longer uses: `madvise(MADV_DONTNEED)` on them once start-up or
 * a burst is over (memory-return.ts decides when).
 *
 * Why: Node maps its ~100 MB binary, and start-up alone faults in ~35 MB of it (relocation and
 * symbol tables, the start-up snapshot, the parser and compilers that load the bundle), which
 * stay in VmRSS although the idle daemon never touches most of them again; V8's optimizing
 * compiler faults in its own several MB whenever it works. These pages are clean copies of the
 * file, so dropping them loses nothing: a page needed again comes back with a minor fault from
 * the page cache, and a cached page that no process maps is the first the kernel reclaims under
 * pressure. Measured in docs/architecture.md, "Memory and start-up".
 *
 * Only mappings that cannot hold data of ours: file-backed, not writable, and without any
 * anonymous (copied-on-write) page in /proc/self/smaps. A RELRO segment, written by the dynamic
 * linker before it was made read-only, has such pages; dropping them would undo its relocations.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { loadLibcLibrary } from '../../../lib/native/libc.js';

const MADV_DONTNEED = 4;
/** smaps is read in chunks: read whole (~150 kB) it would be one large string kept until a full collection. */
const CHUNK = 16 * 1024;

/** Parses /proc/<pid>/smaps line by line; see {@link droppableRanges}. */
export class DroppableRanges {
  /** [start, length] pairs, flat. */
  readonly ranges: number[] = [];
  #start = 0;
  #length = 0;
  #ok = false;
  #resident = false;

  line(line: string): void {
    const c = line.charCodeAt(0);
    // A mapping's header starts with its lowercase hex start address; its field lines with a capital.
    if ((c >= 48 && c <= 57) || (c >= 97 && c <= 102)) {
      this.end();
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+ *(.*)$/.exec(line);
      this.#ok = m !== null && !(m[3] as string).includes('w') && (m[4] as string).startsWith('/');
      this.#resident = false;
      if (m) {
        this.#start = Number.parseInt(m[1] as string, 16);
        this.#length = Number.parseInt(m[2] as string, 16) - this.#start;
      }
    } else if (line.startsWith('Rss:')) {
      this.#resident = !line.endsWith(' 0 kB');
    } else if (line.startsWith('Anonymous:') && !line.endsWith(' 0 kB')) {
      this.#ok = false;
    }
  }

  /** Closes the last mapping; call once after the last line. */
  end(): void {
    if (this.#ok && this.#resident && this.#length > 0) this.ranges.push(this.#start, this.#length);
    this.#ok = false;
  }
}

/**
 * The mappings in a /proc/<pid>/smaps text whose pages may be dropped, as [start, length] pairs
 * in one flat array: file-backed, not writable, some page resident, no page anonymous.
 */
export function droppableRanges(smaps: string): number[] {
  const p = new DroppableRanges();
  for (const line of smaps.split('\n')) p.line(line);
  p.end();
  return p.ranges;
}

/** Reads /proc/self/smaps through a small buffer into the parser. */
function readOwnRanges(): number[] {
  const p = new DroppableRanges();
  const fd = openSync('/proc/self/smaps', 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let carry = '';
    for (let n = readSync(fd, buf, 0, CHUNK, null); n > 0; n = readSync(fd, buf, 0, CHUNK, null)) {
      const text = carry + buf.toString('latin1', 0, n);
      let from = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
        p.line(text.slice(from, nl));
        from = nl + 1;
      }
      carry = text.slice(from);
    }
    if (carry) p.line(carry);
  } finally {
    closeSync(fd);
  }
  p.end();
  return p.ranges;
}

/** Drops what {@link droppableRanges} allows in this process; returns the bytes advised. */
export type DropPages = () => number;

/** Binds `madvise` through koffi; without koffi nothing is dropped (a function that returns 0). */
export async function createPageDropper(): Promise<DropPages> {
  let madvise: (start: number, length: number, advice: number) => number;
  try {
    const { lib } = await loadLibcLibrary();
    madvise = lib.func('int madvise(uintptr_t, size_t, int)') as typeof madvise;
  } catch {
    return () => 0;
  }
  return () => {
    const ranges = readOwnRanges();
    let bytes = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      // A mapping that refuses (locked: EINVAL) keeps its pages; nothing else depends on it.
      if (madvise(ranges[i] as number, ranges[i + 1] as number, MADV_DONTNEED) === 0) bytes += ranges[i + 1] as number;
    }
    return bytes;
  };
}
