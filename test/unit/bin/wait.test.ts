/** `--wait[=SECONDS]`: parsing, the progress line (only where a terminal shows it), and running out. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_WAIT_S, parseArgs } from '../../../bin/cli/args.js';
import { main } from '../../../bin/cli/main.js';
import { MockTransport } from '../../../lib/index.js';

describe('--wait[=SECONDS]', () => {
  it('alone waits the documented default; =SECONDS sets it; a separate word is not its value', () => {
    expect(DEFAULT_WAIT_S).toBe(30);
    expect(parseArgs(['session', 'create', '--wait']).command).toMatchObject({ waitMs: 30_000 });
    expect(parseArgs(['session', 'create', '--wait=2.5']).command).toMatchObject({ waitMs: 2500 });
    expect(parseArgs(['run', '--wait=10', '--', 'true']).command).toMatchObject({ waitMs: 10_000 });
    expect(parseArgs(['session', 'create']).command).toMatchObject({ waitMs: null });
    for (const bad of ['--wait=0', '--wait=-1', '--wait=x', '--wait=', '--wait=3601'])
      expect(() => parseArgs(['session', 'create', bad]), bad).toThrow(
        /^--wait=SECONDS needs a number of seconds above 0, at most 3600/,
      );
    expect(() => parseArgs(['session', 'create', '--wait', '5'])).toThrow("session create: unexpected argument '5'");
  });

  it('shows a progress line each second on a terminal, clears it, and ends with exit 1 naming the timeout', async () => {
    // No uplink: the session stays disconnected.
    const mock = new MockTransport({ uplinks: [] });
    const progress: Array<string | null> = [];
    const err: string[] = [];
    const out: string[] = [];
    const code = await main(
      ['session', 'create', '--wait=2.2'],
      { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: true, progress: (l) => progress.push(l) },
      { transport: () => mock },
    );
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual(['netsessionctl: the session got no uplink within 2.2 s (its state: disconnected)']);
    expect(progress).toEqual([
      'waiting for an uplink: 1 s of 2.2 s (session disconnected)',
      'waiting for an uplink: 2 s of 2.2 s (session disconnected)',
      null,
    ]);
    expect(mock.lastSession().destroyed).toBe(true);
  });

  it('prints no progress when nothing can show it, and goes on once there is an uplink', async () => {
    const mock = new MockTransport({ uplinks: [] });
    const out: string[] = [];
    const closed = new AbortController();
    const done = main(
      ['--json', 'session', 'create', '--wait=5'],
      { out: (t) => out.push(t), err: () => {}, isTTY: false, closed: closed.signal },
      { transport: () => mock },
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(out).toEqual([]);
    mock.setUplinks([{ interface: 'eth-a', bearer: 'ethernet' }]);
    while (out.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(JSON.parse(out[0]!)).toMatchObject({ event: 'session', settings: { state: 'online', interface: 'eth-a' } });
    closed.abort();
    expect(await done).toBe(0);
  });
});
