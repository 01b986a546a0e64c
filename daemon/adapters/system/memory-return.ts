/**
 * Gives memory the daemon no longer uses back to the system, after a burst (start-up, many
 * sessions ended): full garbage collections (`--expose-gc`, in the #! line), then glibc's
 * `malloc_trim(0)`.
 *
 * Why both: V8 keeps freed heap pages and garbage until its own heuristics collect, and glibc
 * keeps freed malloc memory in its arenas (it returns only the top of the brk heap, and only past
 * M_TRIM_THRESHOLD); `malloc_trim(0)` also releases free pages inside the arenas. Measured on the
 * idle daemon after start-up (docs/architecture.md, "Memory and start-up"): V8 heap −0.9 MB,
 * malloc −0.7 MB of RssAnon. Two collections, not one: the first one's finalizers (closed
 * handles, weak callbacks) free native memory and objects only the second collects.
 *
 * musl has no `malloc_trim` (its allocator returns memory itself): then only the collections.
 */
import { loadLibcLibrary } from '../../../lib/native/libc.js';

/** Runs the collections and the trim; synchronous, a few ms on the idle daemon's heap. */
export type ReturnMemory = () => void;

/** Binds `malloc_trim` when libc has it; without koffi or `--expose-gc` the missing part is skipped. */
export async function createMemoryReturner(): Promise<ReturnMemory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let trim: ((pad: number) => unknown) | undefined;
  try {
    const { lib } = await loadLibcLibrary();
    trim = lib.func('int malloc_trim(size_t)');
  } catch {
    // musl, or koffi missing: the collections alone.
  }
  return () => {
    gc?.();
    gc?.();
    trim?.(0);
  };
}
