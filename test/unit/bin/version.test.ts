/** `--version` of netsessionctl and netsessiond: package.json's version, one line, exit 0. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../bin/cli/args.js';
import { main } from '../../../bin/cli/main.js';
import { packageVersion } from '../../../bin/cli/version.js';
import { MockTransport } from '../../../lib/index.js';

const ROOT = join(import.meta.dirname, '../../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('--version', () => {
  it('parses anywhere before -- and wins over the command', () => {
    expect(parseArgs(['--version']).command).toEqual({ name: 'version' });
    expect(parseArgs(['state', '--version']).command).toEqual({ name: 'version' });
    expect(() => parseArgs(['--version=1'])).toThrow("option '--version' takes no value");
  });

  it('reads the nearest package.json (source tree and a file in a nested dist/ alike)', () => {
    expect(packageVersion()).toBe(VERSION);
    expect(packageVersion(new URL('../../../dist/bin/cli/version.js', import.meta.url).href)).toBe(VERSION);
  });

  it('netsessionctl prints `netsessionctl VERSION` (JSON: {"version"}) without calling the daemon', async () => {
    for (const [argv, expected] of [
      [['--version'], `netsessionctl ${VERSION}`],
      [['--json', '--version'], JSON.stringify({ version: VERSION })],
    ] as const) {
      const out: string[] = [];
      const mock = new MockTransport();
      const code = await main(
        argv,
        { out: (t) => out.push(t), err: (t) => out.push(`err: ${t}`), isTTY: false },
        { transport: () => mock },
      );
      expect({ code, out, calls: mock.calls }).toEqual({ code: 0, out: [expected], calls: [] });
    }
  });

  it('netsessiond --version prints `netsessiond VERSION` and exits 0 before any other check', () => {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'daemon/main.ts'), '--version', '--no-such-option'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(out).toBe(`netsessiond ${VERSION}\n`);
  });
});
