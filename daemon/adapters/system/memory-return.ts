/**
 * Gives memory the daemon no longer uses back to the system, after a burst (start-up, many
 * sessions ended): full garbage collections (`--expose-gc`, in the #! line), then glibc's
 * `malloc_trim(0)`.
 *
 * Why both: V8 keeps freed heap pages and garbage until its own heuristics collect, and glibc
 * keeps freed malloc memory in its arenas (it returns only the top of the brk heap, and only past
 * M_TRIM_THRESHOLD); `malloc_trim(0)` also releases free pages inside the arenas. Measured on the
 * idle daemon after start-up (docs/architecture.md, "Memory and start-up"): V8 heap −0.9 MB,
 * malloc −0.7 MB of RssAnon, flushing idle bytecode and baseline code −1.3 MB more. Two collections, as V8's own
 * last-resort collection does: what the first one's weak callbacks and finalizers release is
 * collected by the second.
 *
 * The flush sets two V8 flags only while these collections run (`v8.setFlagsFromString`; Node
 * leaves V8's flags writable, `--freeze-flags-after-init` is off). V8 reads them when a
 * collection starts marking, and both collections here are synchronous.
 *
 * musl has no `malloc_trim` (its allocator returns memory itself): then only the collections.
 */
import { setFlagsFromString } from 'node:v8';
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
    if (gc) {
      // Bytecode and baseline code of functions not running now (start-up's parsers and setup,
      // above all) are dropped and compiled again, lazily, if ever called again. Only here:
      // as a standing flag it flushes at every collection, and start-up, which collects while
      // running each function once, took 145 instead of 117 ms to READY=1.
      setFlagsFromString('--stress-flush-code --flush-baseline-code');
      try {
        gc();
        gc();
      } finally {
        setFlagsFromString('--no-stress-flush-code --no-flush-baseline-code');
      }
    }
    trim?.(0);
  };
}

/** RSS growth since the last return after which a settled daemon returns memory again. */
const GROWTH_BYTES = 3 * 1024 * 1024;
/**
 * Seconds between returns for growth: under steady churn the process may grow and pause again
 * and again; a return (~5 ms idle, tens of ms with a large heap) then costs at most ~1%. Short
 * enough that a burst ending a few seconds after the last return (10,000 sessions destroyed, then
 * a few seconds of churn) is returned once it stops, not held until some later burst: at 10 s the
 * footprint bench's 10,000 cycles, once they took under 2 s, found their garbage still held.
 */
const GROWTH_MIN_GAP_S = 3;

/**
 * When to return memory, checked once a second (O(1), no timer per session): at 1 s and 10 s
 * after start-up (its compiling, file parsing, first dumps, online checks and DHCP); after many
 * sessions ended (1,000 below the high-water mark); and after any burst that left the process
 * 3 MB larger than after the last return, once it has stopped growing (a session storm, churn),
 * at most once per 3 s.
 * The last keeps V8 and malloc from holding a burst's garbage as headroom until their own
 * heuristics run, which at idle may be never.
 */
export function scheduleMemoryReturns(
  sessionCount: () => number,
  returnMemory: ReturnMemory,
  /** The process's resident set in bytes (injectable for tests). */
  rss: () => number = () => process.memoryUsage.rss(),
): void {
  let high = 0;
  let base = Number.POSITIVE_INFINITY;
  let last = 0;
  let sinceReturn = 0;
  const run = (): void => {
    returnMemory();
    high = sessionCount();
    base = last = rss();
    sinceReturn = 0;
  };
  for (const ms of [1000, 10_000]) setTimeout(run, ms).unref();
  setInterval(() => {
    sinceReturn++;
    const n = sessionCount();
    high = Math.max(high, n);
    const now = rss();
    const settledAfterGrowth = now - base >= GROWTH_BYTES && now <= last && sinceReturn > GROWTH_MIN_GAP_S;
    last = now;
    if (high - n >= 1000 || settledAfterGrowth) run();
  }, 1000).unref();
}
