/**
 * Gives memory the daemon no longer uses back to the system, after start-up and whenever a burst
 * of work has ended: full garbage collections (`--expose-gc`, in the #! line), glibc's
 * `malloc_trim(0)`, then the clean pages of node's own binary (mapped-pages.ts).
 *
 * Why: V8 keeps freed heap pages and garbage until its own heuristics collect, and glibc keeps
 * freed malloc memory in its arenas (it returns only the top of the brk heap, and only past
 * M_TRIM_THRESHOLD); `malloc_trim(0)` also releases free pages inside the arenas. Measured on the
 * idle daemon after start-up (docs/architecture.md, "Memory and start-up"): V8 heap −0.9 MB,
 * malloc −0.7 MB of RssAnon, flushing idle bytecode and baseline code −1.3 MB more, node's own
 * pages ~30 MB of VmRSS. Two collections, as V8's own last-resort collection does: what the
 * first one's weak callbacks and finalizers release is collected by the second.
 *
 * The start-up returns flush code, setting two V8 flags only while their collections run
 * (`v8.setFlagsFromString`; Node leaves V8's flags writable, `--freeze-flags-after-init` is off).
 * V8 reads them when a collection starts marking, and both collections here are synchronous.
 *
 * musl has no `malloc_trim` (its allocator returns memory itself): then only the collections.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { loadLibcLibrary } from '../../../lib/native/libc.js';
import { createPageDropper, type DropPages } from './mapped-pages.js';

/** Runs the collections and the trim; synchronous, a few ms on the idle daemon's heap. */
export type Collect = (opts: { flushCode: boolean }) => void;

/** The two steps of a return: the collections and trim, then (a little later) the page drop. */
export interface ReturnMemory {
  collect: Collect;
  dropPages: DropPages;
}

/** Binds `malloc_trim` and `madvise` when libc has them; without koffi or `--expose-gc` the missing part is skipped. */
export async function createMemoryReturner(): Promise<ReturnMemory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let trim: ((pad: number) => unknown) | undefined;
  try {
    const { lib } = await loadLibcLibrary();
    trim = lib.func('int malloc_trim(size_t)');
  } catch {
    // musl, or koffi missing: the collections alone.
  }
  const dropPages = await createPageDropper();
  const collect: Collect = ({ flushCode }) => {
    if (gc) {
      // Bytecode and baseline code of functions not running now (start-up's parsers and setup,
      // above all) are dropped and compiled again, lazily, if ever called again. Only at the
      // start-up returns: later, the hot paths' optimized code would go with it. Not a standing
      // flag: it flushes at every collection, and start-up, which collects while running each
      // function once, took 145 instead of 117 ms to READY=1.
      if (flushCode) setFlagsFromString('--stress-flush-code --flush-baseline-code');
      try {
        gc();
        gc();
      } finally {
        if (flushCode) setFlagsFromString('--no-stress-flush-code --no-flush-baseline-code');
      }
    }
    trim?.(0);
  };
  return { collect, dropPages };
}

/** Share of a check window the event loop may work for the window to count as quiet. */
const QUIET_SHARE = 0.01;
/** Check period while idle (one wake-up a second). */
const IDLE_CHECK_MS = 1000;
/** Check period after a busy window, so a burst's end is seen within a quarter of a second. */
const BUSY_CHECK_MS = 250;
/**
 * Event-loop work since the last return before a quiet window returns memory: a burst worth it,
 * not a lone event (which would then pay two full collections each time).
 */
const BURST_ACTIVE_MS = 50;
/**
 * File-backed growth since the last drop before a quiet window drops pages alone (no
 * collection): a periodic kernel verify or a lone call faults some of node's code back in.
 */
const FILE_GROWTH_BYTES = 2 * 1024 * 1024;
/**
 * Quarter-second checks after a return (6 s) that drop pages again at 0.5 MB of file-backed growth:
 * V8's worker thread goes on compiling what the burst made hot for up to a few seconds after
 * the event loop went quiet, and faults the compiler's code back in.
 */
const CHASE_CHECKS = 24;
const CHASE_GROWTH_BYTES = 512 * 1024;
/** Delay from the collections to the page drop. */
const DROP_DELAY_MS = 250;

/** Resident memory in bytes: anonymous (heap, malloc, stacks) and file-backed (code and data of files). */
export interface Resident {
  anon: number;
  file: number;
}

/** A process's resident memory (this one's by default), from /proc/<pid>/status: kB there, whatever the page size. */
export function residentOf(pid: number | 'self' = 'self'): Resident {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kB = (field: string): number => {
    const at = status.indexOf(field);
    return at < 0 ? 0 : Number.parseInt(status.slice(at + field.length), 10) * 1024;
  };
  return { anon: kB('RssAnon:'), file: kB('RssFile:') };
}

/**
 * Time the event loop has spent working since start-up, in ms. Not the process's CPU time:
 * that includes V8's worker thread, whose concurrent compiles and sweeping go on for a while
 * after a burst and would keep every window after it from looking quiet.
 */
const loopActiveMs = (): number => performance.eventLoopUtilization().active;

/** What {@link scheduleMemoryReturns} reads and calls; the readers are injectable for tests. */
export interface MemoryReturnDeps {
  returnMemory: ReturnMemory;
  resident?: () => Resident;
  /** Time the event loop has been working, in ms since some fixed point. */
  activeMs?: () => number;
  /** Called once, right after the last start-up return. */
  afterStartUp?: () => void;
  setTimeout?: (fn: () => void, ms: number) => void;
}

/**
 * When to return memory: at 1 s and 10 s after start-up (its compiling, file parsing, first
 * dumps, online checks and DHCP), flushing code; then whenever a burst has ended — the event
 * loop worked under 1 % of a check window (a quarter of a second after a busy one, else a
 * second) after at least 50 ms of work since the last return — keeping code (a burst that only
 * freed, 10,000 sessions destroyed, counts as much as one that grew); and in a quiet window
 * after file-backed pages grew 2 MB since the last drop (0.5 MB in the 6 s after a return,
 * while V8's worker may still be compiling), the page drop alone. Every return ends with the
 * page drop, a quarter of a second after its collections. A check costs two O(1) reads (no
 * timer per session, nothing per call).
 * So what a burst left — garbage, freed malloc memory, node's code it faulted in — is given
 * back within about half a second of its end, whenever the burst came; V8 and malloc would
 * otherwise hold it as headroom until their own heuristics run, which at idle may be never.
 */
export function scheduleMemoryReturns(deps: MemoryReturnDeps): void {
  const resident = deps.resident ?? (() => residentOf());
  const activeMs = deps.activeMs ?? loopActiveMs;
  const later = deps.setTimeout ?? ((fn, ms) => setTimeout(fn, ms).unref());
  let fileBase = Number.POSITIVE_INFINITY;
  let activeAtReturn = 0;
  let lastActive = 0;
  let dropping = false;
  let chase = 0;
  const drop = (): void => {
    deps.returnMemory.dropPages();
    fileBase = resident().file;
    dropping = false;
  };
  const run = (flushCode: boolean): void => {
    deps.returnMemory.collect({ flushCode });
    chase = CHASE_CHECKS;
    activeAtReturn = lastActive = activeMs();
    // The drop waits for the tasks the collections left behind (sweeping, freed pages unmapped),
    // which would otherwise fault node's code straight back in.
    dropping = true;
    later(drop, DROP_DELAY_MS);
  };
  const check = (period: number): void => {
    const active = activeMs();
    const quiet = active - lastActive < period * QUIET_SHARE;
    lastActive = active;
    if (quiet && !dropping) {
      if (active - activeAtReturn >= BURST_ACTIVE_MS) run(false);
      else if (resident().file - fileBase >= (chase > 0 ? CHASE_GROWTH_BYTES : FILE_GROWTH_BYTES)) drop();
    }
    if (chase > 0) chase--;
    const next = quiet && chase === 0 ? IDLE_CHECK_MS : BUSY_CHECK_MS;
    later(() => check(next), next);
  };
  later(() => {
    run(true);
    later(() => check(IDLE_CHECK_MS), IDLE_CHECK_MS);
  }, 1000);
  later(() => {
    run(true);
    deps.afterStartUp?.();
  }, 10_000);
}
