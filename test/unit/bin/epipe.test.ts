/** `netsessionctl ... | head`: a reader that has gone is not an error (exit 0, nothing on stderr). */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

describe('EPIPE on stdout', () => {
  it('ends a streaming command with 0 and nothing on stderr once the reader has closed the pipe', async () => {
    // monitor without a bus keeps printing `error ...` lines (and retrying) until stopped; its
    // reader is gone before node has even loaded the CLI.
    const noBus = `unix:path=${join(tmpdir(), `netsession-no-bus-${process.pid}`)}`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bin/netsessionctl.ts'), '--bus', noBus, 'monitor'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});
