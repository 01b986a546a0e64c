/** `monitor` without a terminal: one line per event (text or JSON), and a reader that goes away ends it with 0. */
import { describe, expect, it } from 'vitest';
import { main } from '../../../bin/cli/main.js';
import { createSession, MockTransport } from '../../../lib/index.js';
import { UPLINKS } from '../../fakes/cli.js';
import { until } from '../../fakes/until.js';

function startMonitor(argv: string[], mock: MockTransport) {
  const out: string[] = [];
  const err: string[] = [];
  const closed = new AbortController();
  const done = main(
    ['monitor', '--interval', '100', ...argv],
    { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, closed: closed.signal },
    { transport: () => mock },
  );
  return { out, err, done, close: () => closed.abort() };
}

describe('monitor without a terminal', () => {
  it('prints one text line per event: services, sessions, each change; ends with 0 when stdout closes', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const m = startMonitor([], mock);
    await until(() => m.out.length >= 2);
    expect(m.out.slice(0, 2).sort()).toEqual(['services eth-a=online eth-c=online', 'sessions none']);
    const s = await createSession({ transport: mock, allowedBearers: ['cellular'] });
    await until(() => m.out.some((l) => l.startsWith('sessions /')));
    expect(m.out.at(-1)).toBe(`sessions ${s.path}=online/eth-c`);
    mock.setUplinks([UPLINKS[0]!]);
    await until(() => m.out.includes('services eth-a=online'));
    for (const line of m.out) expect(line).not.toContain('\n');
    m.close();
    expect(await m.done).toBe(0);
    expect(m.err).toEqual([]);
    await s.destroy();
  });

  it('prints one JSON object per line with --json', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const m = startMonitor(['--json'], mock);
    await until(() => m.out.length >= 2);
    const events = m.out.map((l) => JSON.parse(l) as { event: string; services?: Array<{ interface: string }> });
    expect(events.map((e) => e.event).sort()).toEqual(['services', 'sessions']);
    expect(events.find((e) => e.event === 'services')!.services!.map((s) => s.interface)).toEqual(['eth-a', 'eth-c']);
    m.close();
    expect(await m.done).toBe(0);
  });

  it('says once why sessions are missing for a user who may not list them', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS, uid: 1000 });
    const m = startMonitor([], mock);
    await until(() => m.out.some((l) => l.startsWith('sessions')));
    expect(m.out).toContain('sessions unavailable: listing sessions needs root');
    m.close();
    expect(await m.done).toBe(0);
  });
});

describe('a closed stdout', () => {
  it('ends session create as Ctrl-C does: the session is destroyed, exit 0', async () => {
    const mock = new MockTransport({ uplinks: UPLINKS });
    const closed = new AbortController();
    const out: string[] = [];
    const done = main(
      ['session', 'create'],
      { out: (t) => out.push(t), err: () => {}, isTTY: false, closed: closed.signal },
      { transport: () => mock },
    );
    await until(() => out.length > 0);
    closed.abort();
    expect(await done).toBe(0);
    expect(mock.lastSession().destroyed).toBe(true);
  });
});
