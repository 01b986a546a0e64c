/** netsessionctl's main() against the SDK's MockTransport, output collected (unit tests of bin/). */
import { expect } from 'vitest';
import { parseArgs } from '../../bin/cli/args.js';
import type { Output } from '../../bin/cli/context.js';
import { UsageError } from '../../bin/cli/errors.js';
import { main } from '../../bin/cli/main.js';
import { MockTransport, type Transport } from '../../lib/index.js';

/** Two uplinks, as most CLI unit tests want them. */
export const UPLINKS = [
  { interface: 'eth-a', bearer: 'ethernet' as const, ipv4: '198.51.100.10/29' },
  { interface: 'eth-c', bearer: 'cellular' as const, ipv4: '198.51.100.26/29' },
];

/** The mock as main() sees it, minus close(): main closes its transport, the next call reuses the mock. */
export function keepOpen(mock: MockTransport): Transport {
  return new Proxy(mock, {
    get(target, prop) {
      if (prop === 'close') return async () => {};
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Runs netsessionctl with `argv` against `mock`; stdout lines joined, stderr lines as a list. */
export async function cli(
  argv: string[],
  mock: MockTransport = new MockTransport({ uplinks: UPLINKS }),
  io: Partial<Output> = {},
) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, ...io },
    { transport: () => keepOpen(mock) },
  );
  return { code, out: out.join('\n'), err, mock };
}

/** The UsageError message parseArgs gives for `argv`; fails the test when it parses. */
export function usageError(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`${argv.join(' ')} parsed`);
}
