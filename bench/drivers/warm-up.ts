/**
 * The warm-up before a bench's rows: back-to-back operations on a fresh daemon, with the pace of
 * each block of 1,000 printed, so what a daemon costs before its code has tiered up is seen
 * beside the figures measured after it.
 */
import { performance } from 'node:perf_hooks';

/**
 * Back-to-back pairs each daemon answers before anything is measured. netsessiond's optimizing
 * compiler, on from 10 s after start-up, settles after ~2,000 pairs (docs/architecture.md,
 * "Memory and start-up"), so it gets 3,000. connmand keeps the 1,000 of earlier runs: it needs
 * no tier-up, and it slows down as pairs accumulate (1,000-pair blocks of `{}` pairs 0.81, 0.85,
 * 1.0 ms), which 3,000 would have turned into ratios in our favour. The warm-up's own pace is
 * printed.
 */
export const WARM_PAIRS = { netsessiond: 3000, connmand: 1000 } as const;

const BLOCK = 1000;

/** Runs `op` `count` times back to back and prints ms per operation for each block of 1,000. */
export async function warmUp(op: () => Promise<unknown>, count: number, label: string): Promise<void> {
  const blocks: string[] = [];
  for (let done = 0; done < count; ) {
    const n = Math.min(BLOCK, count - done);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await op();
    blocks.push(((performance.now() - t0) / n).toFixed(3));
    done += n;
  }
  console.log(`  [warm-up] ${label}: ms per operation, by block of ${BLOCK}: ${blocks.join(', ')}`);
}
