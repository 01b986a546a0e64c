/**
 * The daemon starts with `--no-opt` and turns the optimizing compiler on after start-up
 * (adapters/system/optimizer.ts): in a child Node with the daemon's option, a hot function stays
 * unoptimized until the switch and is optimized after it (V8's own status bits, no timing).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../../../../../daemon/adapters/system/optimizer.ts', import.meta.url));

const SCRIPT = `
import { enableOptimizerLater } from ${JSON.stringify(MODULE)};
function hot(a) { let s = 0; for (const x of a) s += x.k.length * 2 + (x.v | 0); return s; }
const arr = Array.from({ length: 200 }, (_, i) => ({ k: 'k' + i, v: i }));
// Bit 4 of %GetOptimizationStatus: the function runs optimized code.
const spin = () => { for (let i = 0; i < 20000; i++) hot(arr); return (%GetOptimizationStatus(hot) & 16) !== 0; };
const before = spin();
enableOptimizerLater(0);
await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify({ before, after: spin() }));
`;

describe('enableOptimizerLater', () => {
  it('leaves hot code unoptimized under --no-opt until it fires, then lets V8 optimize it', () => {
    const out = execFileSync(
      process.execPath,
      ['--no-opt', '--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', SCRIPT],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out.trim())).toEqual({ before: false, after: true });
  });
});
