/** The real Clock: wall time and unref'd Node timers (a pending check never keeps the daemon alive). */
import type { Clock } from '../../ports.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};
