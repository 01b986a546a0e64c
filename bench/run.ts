/**
 * `npm run bench`: prints every benchmark's figures. Figures, not pass/fail: targets are
 * printed beside the numbers so a reader can compare.
 */
import { runCoreBench } from './core-link-event.js';

console.log('# core: one link event with N live sessions (target: < 5 ms at 10,000, linear or better)');
console.table(runCoreBench());
