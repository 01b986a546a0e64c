/**
 * The SDK inside the sandbox's device namespace, driven by a test in the root namespace (Node
 * cannot enter a namespace, and the bind helpers' sockets must be opened in the device's).
 * Started with `ip netns exec <dev> node --import tsx sdk-driver.ts <control socket>`; reaches the
 * daemon over `DBUS_SYSTEM_BUS_ADDRESS`. The test sends one operation per HTTP POST on the unix
 * control socket (`{ op, ...args }`) and gets `{ ok: true, value }` or `{ ok: false, error }`
 * back; operations name sessions, agents and dispatchers by ids the test chooses, so state
 * (pooled sockets, dispatcher generations) lives on between calls. Prints "ready" once listening.
 */
import { once } from 'node:events';
import http from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { Agent, type Dispatcher, fetch as undiciFetch, request as undiciRequest } from 'undici';
import { createSession, DBusTransport, type Session, type SessionOptions } from '../../../lib/index.js';

const controlPath = process.argv[2];
if (!controlPath) throw new Error('usage: sdk-driver.ts <control socket path>');

const transport = new DBusTransport({ callTimeout: 10_000 });
const sessions = new Map<string, Session>();

interface AgentEntry {
  agent: http.Agent;
  sockets: Set<Duplex>;
  closed: number;
  /** Closed after the peer's FIN ('end'), rather than destroyed here. */
  closedByPeer: number;
}
const agents = new Map<string, AgentEntry>();

interface DispatcherEntry {
  dispatcher: Dispatcher;
  events: Array<{ event: string; origin: string }>;
}
const dispatchers = new Map<string, DispatcherEntry>();

type Args = Record<string, unknown>;

function session(id: unknown): Session {
  const s = sessions.get(String(id));
  if (!s) throw new Error(`no session ${String(id)}`);
  return s;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(
      () => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { code: 'ETIMEDOUT' })),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Sends a minimal HTTP/1.0 GET on a connected socket and returns the response text. */
async function rawGet(sock: Duplex, host: string, path: string): Promise<string> {
  sock.write(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
  let text = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (text += d));
  await once(sock, 'end');
  return text;
}

function agentEntry(key: string, make: () => http.Agent): AgentEntry {
  let e = agents.get(key);
  if (!e) {
    e = { agent: make(), sockets: new Set(), closed: 0, closedByPeer: 0 };
    agents.set(key, e);
  }
  return e;
}

async function agentGet(
  e: AgentEntry,
  url: string,
  mod: typeof http | typeof https,
  extra: https.RequestOptions = {},
): Promise<unknown> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = mod.get(url, { agent: e.agent, ...extra }, (res) => {
        // Read now: with keep-alive the socket is back in the pool (res.socket null) by 'end'.
        const localAddress = (res.socket as Socket | null)?.localAddress ?? null;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body, localAddress }));
      });
      req.on('socket', (sock) => {
        if (e.sockets.has(sock)) return;
        e.sockets.add(sock);
        let ended = false;
        sock.once('end', () => (ended = true));
        sock.once('close', () => {
          e.closed += 1;
          if (ended) e.closedByPeer += 1;
        });
      });
      req.on('error', reject);
    }),
    8_000,
    `GET ${url}`,
  );
}

const ops: Record<string, (a: Args) => Promise<unknown>> = {
  async create(a) {
    const s = await createSession({ transport, ...(a.options as SessionOptions), timeout: 10_000 });
    sessions.set(String(a.id), s);
    return s.settings;
  },
  async change(a) {
    await session(a.id).change(a.options as SessionOptions);
    return session(a.id).settings;
  },
  async destroy(a) {
    await session(a.id).destroy();
    sessions.delete(String(a.id));
    return null;
  },
  async settings(a) {
    return session(a.id).settings;
  },
  async waitInterface(a) {
    const want = a.interface as string | null;
    return session(a.id).waitFor((i) => i.interface === want && (want === null || i.state !== 'disconnected'), {
      timeout: Number(a.timeout ?? 15_000),
    });
  },
  async socketOptions(a) {
    return session(a.id).socketOptions(a.family ? { family: a.family as 4 | 6 } : {});
  },
  /** A socket bound by hand (no SDK): the control showing what happens without a source rule. */
  async rawConnect(a) {
    const { connect } = await import('node:net');
    const sock = connect({ host: a.host as string, port: Number(a.port), localAddress: a.localAddress as string });
    try {
      await withTimeout(once(sock, 'connect'), Number(a.timeoutMs ?? 2000), 'connect');
      return { connected: true };
    } finally {
      sock.destroy();
    }
  },
  async net(a) {
    const sock = session(a.id).connect(Number(a.port), a.host as string, a.family ? { family: a.family as 4 | 6 } : {});
    await withTimeout(once(sock, 'connect'), 5_000, 'connect');
    const localAddress = sock.localAddress;
    const text = await withTimeout(rawGet(sock, a.host as string, (a.path as string) ?? '/'), 5_000, 'response');
    return { localAddress, statusLine: text.split('\r\n')[0] };
  },
  async tls(a) {
    const sock = session(a.id).tlsConnect(Number(a.port), a.host as string, { ca: a.ca as string });
    await withTimeout(once(sock, 'secureConnect'), 5_000, 'secureConnect');
    const result = { localAddress: sock.localAddress, authorized: sock.authorized };
    const text = await withTimeout(rawGet(sock, a.host as string, '/tls'), 5_000, 'response');
    return { ...result, statusLine: text.split('\r\n')[0], body: text.split('\r\n\r\n')[1] };
  },
  async http(a) {
    const e = agentEntry(String(a.key), () => session(a.id).httpAgent({ keepAlive: true }));
    return agentGet(e, a.url as string, http);
  },
  async https(a) {
    const { default: httpsMod } = await import('node:https');
    const e = agentEntry(String(a.key), () => session(a.id).httpsAgent({ keepAlive: true, ca: a.ca as string }));
    return agentGet(e, a.url as string, httpsMod);
  },
  async agentState(a) {
    const e = agents.get(String(a.key));
    if (!e) throw new Error(`no agent ${String(a.key)}`);
    const free = Object.values(e.agent.freeSockets).reduce((n, l) => n + (l?.length ?? 0), 0);
    return { sockets: e.sockets.size, closed: e.closed, closedByPeer: e.closedByPeer, free };
  },
  async undici(a) {
    let e = dispatchers.get(String(a.key));
    if (!e) {
      const entry: DispatcherEntry = { dispatcher: session(a.id).dispatcher(), events: [] };
      for (const event of ['connect', 'disconnect', 'connectionError'])
        entry.dispatcher.on(event as 'connect', (origin: URL) => entry.events.push({ event, origin: String(origin) }));
      dispatchers.set(String(a.key), entry);
      e = entry;
    }
    const res = await withTimeout(
      undiciRequest(a.url as string, { dispatcher: e.dispatcher }),
      8_000,
      'undici request',
    );
    return { status: res.statusCode, body: await res.body.text() };
  },
  async dispatcherEvents(a) {
    return dispatchers.get(String(a.key))?.events ?? [];
  },
  async fetch(a) {
    const s = session(a.id);
    const res = await withTimeout(s.fetch(a.url as string), 8_000, 'fetch');
    return { status: res.status, body: await res.text() };
  },
  /** Node's own global fetch, with a session dispatcher (undici 7 under Node 20's fetch). */
  async globalFetch(a) {
    const d = session(a.id).dispatcher();
    try {
      const res = await withTimeout(fetch(a.url as string, { dispatcher: d }), 8_000, 'fetch');
      return { status: res.status, body: await res.text() };
    } finally {
      await d.close();
    }
  },
  async dgram(a) {
    const sock = session(a.id).dgram(a.type as 'udp4' | 'udp6' | undefined);
    const count = Number(a.count ?? 3);
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) =>
        sock.send(Buffer.from(`probe ${i}`), Number(a.port), a.host as string, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    }
    const local = sock.address();
    sock.close();
    return { localAddress: local.address, sent: count };
  },
  async resolve(a) {
    const r = session(a.id).resolver({ timeout: 500, tries: 1 });
    r.setServers([a.server as string]);
    try {
      return { answer: await r.resolve4(a.name as string) };
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? String(err) };
    } finally {
      r.cancel();
    }
  },
  /**
   * For bench/sdk.ts: `rounds` GETs of `url` each through the session's fetch, undici's fetch
   * with a plain Agent (same undici), and Node's global fetch, interleaved; ms per request
   * (response body read), timed here on one clock.
   */
  async benchFetch(a) {
    const s = session(a.id);
    const plain = new Agent();
    const clients: Record<string, () => Promise<unknown>> = {
      'session.fetch': () => s.fetch(a.url as string).then((r) => r.arrayBuffer()),
      'undici fetch': () => undiciFetch(a.url as string, { dispatcher: plain }).then((r) => r.arrayBuffer()),
      'global fetch': () => fetch(a.url as string).then((r) => r.arrayBuffer()),
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
    const warmup = Number(a.warmup ?? 10);
    for (let i = 0; i < warmup + Number(a.rounds); i++) {
      for (const [name, run] of Object.entries(clients)) {
        const t0 = performance.now();
        await run();
        if (i >= warmup) samples[name]!.push(performance.now() - t0);
      }
    }
    await plain.close();
    return samples;
  },
  /** Runs a bind helper expecting it to throw; returns the error's code. */
  async expectThrow(a) {
    const s = session(a.id);
    try {
      if (a.helper === 'connect') s.connect(80, a.host as string).destroy();
      else if (a.helper === 'socketOptions') s.socketOptions();
      else if (a.helper === 'fetch') await s.fetch(a.url as string);
      else throw new Error(`unknown helper ${String(a.helper)}`);
    } catch (err) {
      return { code: (err as { code?: string }).code ?? null, name: (err as Error).name };
    }
    return { code: null };
  },
};

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
      return reply({ ok: false, error: { message: String(err) } });
    }
    const fn = ops[String(args.op)];
    if (!fn) return reply({ ok: false, error: { message: `unknown op ${String(args.op)}` } });
    fn(args).then(
      (value) => reply({ ok: true, value }),
      (err: unknown) => {
        const e = err as {
          name?: string;
          code?: string;
          message?: string;
          cause?: { code?: string; message?: string };
        };
        reply({
          ok: false,
          error: { name: e?.name, code: e?.code ?? e?.cause?.code, message: e?.message ?? String(err) },
        });
      },
    );
  });
});

server.listen(controlPath, () => console.log('ready'));
process.on('SIGTERM', () => {
  server.close();
  void transport.close().finally(() => process.exit(0));
});
