/**
 * The demo's application: the SDK at work inside the sandbox's device namespace.
 *
 *   ip netns exec <dev> node --import tsx scripts/demo/app.ts <control socket>
 *
 * Node cannot enter a network namespace, and the sockets `s.fetch` opens must be opened in the
 * device's, so scripts/demo.ts (in the root namespace) starts this program there and drives it:
 * one operation per HTTP POST on a unix control socket (`{ op, ...args }` → `{ ok, value }` or
 * `{ ok: false, error }`). Sessions are named by ids the demo chooses. Every Update a session
 * receives is printed as `update <json>` on stdout, as it arrives, so the demo can show the
 * failover as the app saw it. Prints `ready` once listening; SIGTERM destroys the sessions and
 * leaves the bus.
 */
import http from 'node:http';
import { createSession, DBusTransport, type Session, type SessionOptions } from '../../lib/index.js'; // in an app: from 'netsession'

const controlPath = process.argv[2];
if (!controlPath) throw new Error('usage: app.ts <control socket path>');

const transport = new DBusTransport({ callTimeout: 10_000 });
const sessions = new Map<string, Session>();

type Args = Record<string, unknown>;

function session(id: unknown): Session {
  const s = sessions.get(String(id));
  if (!s) throw new Error(`no session ${String(id)}`);
  return s;
}

/** What the demo shows of a session. */
function describe(id: string, s: Session) {
  return { id, state: s.state, interface: s.interface, bearer: s.bearer, address: s.ipv4?.address ?? null };
}

/** Counters as plain numbers: JSON has no bigint, and a demo's byte counts fit easily. */
async function counters(s: Session): Promise<{ rx: number; tx: number } | null> {
  try {
    const st = await s.statistics();
    return { rx: Number(st.rxBytes), tx: Number(st.txBytes) };
  } catch {
    return null;
  }
}

const ops: Record<string, (a: Args) => Promise<unknown>> = {
  async services() {
    return (await transport.services()).map((x) => ({
      name: x.name,
      interface: x.interface,
      bearer: x.bearer,
      state: x.state,
    }));
  },
  async create(a) {
    const id = String(a.id);
    const s = await createSession({ transport, ...(a.options as SessionOptions), timeout: 10_000 });
    sessions.set(id, s);
    s.on('update', (changes) => console.log(`update ${JSON.stringify({ id, changes })}`));
    return describe(id, s);
  },
  /** Resolves once the session is online on `interface`. */
  async waitOnline(a) {
    const s = session(a.id);
    await s.waitFor((i) => i.state === 'online' && i.interface === a.interface, {
      timeout: Number(a.timeout ?? 15_000),
    });
    return describe(String(a.id), s);
  },
  /** A GET through the session's own `fetch`; the body is read and counted. */
  async fetch(a) {
    const s = session(a.id);
    const res = await s.fetch(String(a.url), { signal: AbortSignal.timeout(15_000) });
    const bytes = (await res.arrayBuffer()).byteLength;
    return { status: res.status, bytes, interface: s.interface, address: s.ipv4?.address ?? null };
  },
  async statistics(a) {
    const st = await session(a.id).statistics();
    return {
      rx: Number(st.rxBytes),
      tx: Number(st.txBytes),
      rxPackets: Number(st.rxPackets),
      txPackets: Number(st.txPackets),
    };
  },
  /** Every live session with its counters (null where the daemon cannot count). */
  async status() {
    return Promise.all([...sessions].map(async ([id, s]) => ({ ...describe(id, s), counters: await counters(s) })));
  },
  async destroy(a) {
    await session(a.id).destroy();
    sessions.delete(String(a.id));
    return null;
  },
  async close() {
    await closeAll();
    return null;
  },
};

async function closeAll(): Promise<void> {
  await Promise.allSettled([...sessions.values()].map((s) => s.destroy()));
  sessions.clear();
  await transport.close();
}

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    const reply = (value: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    let args: Args;
    try {
      args = JSON.parse(body) as Args;
    } catch (err) {
      return reply({ ok: false, error: String(err) });
    }
    const fn = ops[String(args.op)];
    if (!fn) return reply({ ok: false, error: `unknown op ${String(args.op)}` });
    fn(args).then(
      (value) => reply({ ok: true, value }),
      (err: unknown) => {
        const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
        const cause = e?.cause?.message ? ` (${e.cause.code ?? e.cause.message})` : '';
        reply({ ok: false, error: `${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(err)}${cause}` });
      },
    );
  });
});

server.listen(controlPath, () => console.log('ready'));
process.once('SIGTERM', () => {
  server.close();
  void closeAll().finally(() => process.exit(0));
});
