/**
 * Turns V8's optimizing compiler (TurboFan) on once start-up has settled; the #! line starts the
 * daemon with `--no-opt`. Measured (docs/architecture.md, "Memory and start-up"): with the
 * compiler on from the start, start-up's one-off code (parsers, dumps, setup) runs hot enough to
 * be compiled, which maps ~3.7 MB more of node's own code (the compiler) into the daemon before it
 * is even ready; with it off for good, every session operation runs on baseline code, ~0.6 ms
 * slower per SourceIPRule session and ~35 % more CPU per create/destroy cycle. Turned on after
 * start-up, a daemon that stays idle never loads the compiler, and what runs hot under load (the
 * call path, the kernel applies) is optimized. V8 reads the flag at each tier-up decision, so
 * setting it later is enough (`v8.setFlagsFromString`; Node leaves V8's flags writable).
 */
import { setFlagsFromString } from 'node:v8';

/** Turns the optimizing compiler on `afterMs` from now (an unref'd timer). */
export function enableOptimizerLater(afterMs: number): void {
  setTimeout(() => setFlagsFromString('--opt --ticks-before-optimization=20'), afterMs).unref();
}
