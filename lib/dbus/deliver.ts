/**
 * Calls into an app's code (notifiers, listeners) from the bus dispatch without letting what they
 * throw unwind it: shared by the D-Bus transport's notifier and its signal watches.
 */

/** Runs `fn`; an exception becomes an uncaught exception on the next tick, as from any Node emitter's listener. */
export function deliver(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}
