/**
 * The bind helpers with the MockTransport, on real loopback sockets: the mock's uplinks carry
 * loopback addresses (127.0.0.1 and 127.0.0.2 are both local on Linux), so a local server sees
 * which one a helper bound, and moving the mock session between them is an uplink change.
 *
 * | helper / situation                                  | expected                                                      |
 * |-----------------------------------------------------|---------------------------------------------------------------|
 * | connect, tlsConnect, dgram, resolver                | the peer sees the session's address                           |
 * | httpAgent: request, move, request                   | pooled socket destroyed on the move; next request from the new address |
 * | httpAgent: request in flight during the move        | it finishes; its socket is not pooled again                   |
 * | dispatcher: request in flight during the move       | finishes on the old generation, which then closes; new requests use the new address |
 * | fetch                                               | from the session's address; NotConnectedError before sending when offline |
 * | no uplink / no source rule / destroyed session      | NotConnectedError / SourceIPRuleRequiredError / SessionClosedError |
 * | 20 agents on one session                            | one 'update' listener on the session; none once all are destroyed |
 */

import dgramMod from 'node:dgram';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSession,
  MockTransport,
  type MockUplink,
  NotConnectedError,
  type Session,
  SessionClosedError,
  SourceIPRuleRequiredError,
} from '../../../lib/index.js';

const LO1: MockUplink = { interface: 'lo-a', bearer: 'ethernet', ipv4: '127.0.0.1' };
const LO2: MockUplink = { interface: 'lo-b', bearer: 'wifi', ipv4: '127.0.0.2' };

let server: http.Server;
let port: number;
let release: (() => void) | null = null;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const reply = () => res.end(req.socket.remoteAddress);
    if (req.url === '/slow') release = reply;
    else reply();
  });
  // Long keep-alive: sockets stay pooled unless the client closes them.
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as net.AddressInfo).port;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function session(
  uplinks: MockUplink[] = [LO1],
  sourceIPRule = true,
): Promise<{ mock: MockTransport; s: Session }> {
  const mock = new MockTransport({ uplinks });
  const s = await createSession({ transport: mock, sourceIPRule });
  return { mock, s };
}

function get(agent: http.Agent, path = '/'): Promise<{ body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const socket = res.socket as net.Socket;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ body, socket }));
    });
    req.on('error', reject);
  });
}

const freeCount = (a: http.Agent) => Object.values(a.freeSockets).reduce((n, l) => n + (l?.length ?? 0), 0);

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('one-shot helpers', () => {
  it('connect(port, host) binds the session address', async () => {
    const { mock, s } = await session();
    const sock = s.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    expect(sock.localAddress).toBe('127.0.0.1');
    sock.destroy();
    mock.setUplinks([LO2]);
    const sock2 = s.connect(port, '127.0.0.1', { noDelay: true });
    await once(sock2, 'connect');
    expect(sock2.localAddress).toBe('127.0.0.2');
    sock2.destroy();
    await s.destroy();
  });

  it('tlsConnect binds the session address (the TLS handshake itself is not the point here)', async () => {
    const { s } = await session([LO2]);
    const tcp = net.createServer((c) => c.destroy());
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    const t = s.tlsConnect((tcp.address() as net.AddressInfo).port, '127.0.0.1');
    t.on('error', () => undefined);
    await once(t, 'connect');
    expect(t.localAddress).toBe('127.0.0.2');
    t.destroy();
    tcp.close();
    await s.destroy();
  });

  it('dgram() sends from the session address, even for a send made before the bind completed', async () => {
    const { s } = await session([LO2]);
    const peer = dgramMod.createSocket('udp4');
    peer.bind(0, '127.0.0.1');
    await once(peer, 'listening');
    const got = once(peer, 'message');
    const sock = s.dgram();
    sock.send('hello', peer.address().port, '127.0.0.1');
    const [msg, rinfo] = (await got) as [Buffer, dgramMod.RemoteInfo];
    expect([msg.toString(), rinfo.address]).toEqual(['hello', '127.0.0.2']);
    expect(sock.address().address).toBe('127.0.0.2');
    sock.close();
    peer.close();
    expect(() => s.dgram('udp6')).toThrow(NotConnectedError);
    await s.destroy();
  });

  it('resolver() sends its queries from the session address', async () => {
    const { s } = await session([LO2]);
    const dns = dgramMod.createSocket('udp4');
    dns.bind(0, '127.0.0.1');
    await once(dns, 'listening');
    const got = once(dns, 'message');
    const r = s.resolver({ timeout: 200, tries: 1 });
    r.setServers([`127.0.0.1:${dns.address().port}`]);
    const answer = r.resolve4('example.test').catch((e: NodeJS.ErrnoException) => e.code);
    const [, rinfo] = (await got) as [Buffer, dgramMod.RemoteInfo];
    expect(rinfo.address).toBe('127.0.0.2');
    expect(await answer).toBe('ETIMEOUT');
    dns.close();
    await s.destroy();
  });
});

describe('httpAgent follows the session', () => {
  it('destroys the pooled socket on a move; the next request binds the new address', async () => {
    const { mock, s } = await session();
    const agent = s.httpAgent({ keepAlive: true });
    const first = await get(agent);
    expect(first.body).toBe('127.0.0.1');
    expect(freeCount(agent)).toBe(1);
    const closed = once(first.socket, 'close');
    mock.setUplinks([LO2]);
    await closed;
    expect(freeCount(agent)).toBe(0);
    expect((await get(agent)).body).toBe('127.0.0.2');
    // Same address again: the pooled socket is reused.
    const again = await get(agent);
    expect(again.body).toBe('127.0.0.2');
    agent.destroy();
    await s.destroy();
  });

  it('lets a request in flight finish, and does not pool its socket afterwards', async () => {
    const { mock, s } = await session();
    const agent = s.httpAgent({ keepAlive: true });
    const pending = get(agent, '/slow');
    await waitUntil(() => release !== null);
    mock.setUplinks([LO2]);
    release!();
    release = null;
    const { body, socket } = await pending;
    expect(body).toBe('127.0.0.1');
    await once(socket, 'close');
    expect(freeCount(agent)).toBe(0);
    agent.destroy();
    await s.destroy();
  });

  it('fails requests with the binding error when the session has no uplink or no rule', async () => {
    const { mock, s } = await session();
    const agent = s.httpAgent();
    mock.setUplinks([]);
    await expect(get(agent)).rejects.toBeInstanceOf(NotConnectedError);
    agent.destroy();
    const { s: noRule } = await session([LO1], false);
    expect(() => noRule.httpAgent()).not.toThrow();
    await expect(get(noRule.httpAgent())).rejects.toBeInstanceOf(SourceIPRuleRequiredError);
    await s.destroy();
    await noRule.destroy();
  });

  it('httpsAgent binds like httpAgent (seen on a plain TCP peer)', async () => {
    const { s } = await session([LO2]);
    const tcp = net.createServer();
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    const accepted = once(tcp, 'connection');
    const agent = s.httpsAgent();
    const https = await import('node:https');
    https.get({ host: '127.0.0.1', port: (tcp.address() as net.AddressInfo).port, agent }).on('error', () => undefined);
    const [conn] = (await accepted) as [net.Socket];
    expect(conn.remoteAddress).toBe('127.0.0.2');
    conn.destroy();
    agent.destroy();
    tcp.close();
    await s.destroy();
  });
});

describe('dispatcher and fetch follow the session', () => {
  it('a request in flight finishes on the old generation, which then closes; new ones use the new address', async () => {
    const { mock, s } = await session();
    const d = s.dispatcher();
    const events: string[] = [];
    d.on('connect', () => events.push('connect'));
    d.on('disconnect', () => events.push('disconnect'));
    const base = `http://127.0.0.1:${port}`;
    const first = await request(`${base}/`, { dispatcher: d });
    expect(await first.body.text()).toBe('127.0.0.1');
    const slow = request(`${base}/slow`, { dispatcher: d });
    await waitUntil(() => release !== null);
    // undici's pool may have opened one or two connections by now: count them.
    const oldConnections = events.filter((e) => e === 'connect').length;
    mock.setUplinks([LO2]);
    // The new generation opens its own connection while the old one still serves /slow.
    const second = await request(`${base}/`, { dispatcher: d });
    expect(await second.body.text()).toBe('127.0.0.2');
    expect(events.filter((e) => e === 'connect').length).toBe(oldConnections + 1);
    release!();
    release = null;
    // Not cut off by the move: the old generation finishes what it had.
    expect(await (await slow).body.text()).toBe('127.0.0.1');
    // Then it closes every connection it had; the new generation's stays open.
    await waitUntil(() => events.filter((e) => e === 'disconnect').length === oldConnections);
    await d.close();
    expect(events.filter((e) => e === 'disconnect').length).toBe(oldConnections + 1);
    await s.destroy();
  });

  it('fails a request with NotConnectedError while the session has no uplink, then works again', async () => {
    const { mock, s } = await session();
    const d = s.dispatcher();
    mock.setUplinks([]);
    await expect(request(`http://127.0.0.1:${port}/`, { dispatcher: d })).rejects.toBeInstanceOf(NotConnectedError);
    mock.setUplinks([LO2]);
    expect(await (await request(`http://127.0.0.1:${port}/`, { dispatcher: d })).body.text()).toBe('127.0.0.2');
    await d.close();
    await s.destroy();
  });

  it('fetch() goes out from the session address; rejects before sending when offline', async () => {
    const { mock, s } = await session([LO2]);
    const res = await s.fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('127.0.0.2');
    mock.setUplinks([]);
    await expect(s.fetch(`http://127.0.0.1:${port}/`)).rejects.toBeInstanceOf(NotConnectedError);
    await s.destroy();
    await expect(s.fetch(`http://127.0.0.1:${port}/`)).rejects.toBeInstanceOf(SessionClosedError);
  });

  it('a closed dispatcher refuses new requests', async () => {
    const { s } = await session();
    const d = s.dispatcher();
    await d.close();
    await expect(request(`http://127.0.0.1:${port}/`, { dispatcher: d })).rejects.toMatchObject({
      code: expect.stringMatching(/^UND_ERR_(CLOSED|DESTROYED)$/),
    });
    await s.destroy();
  });
});

describe('session-level behaviour', () => {
  it('one update listener however many agents; none left once they are destroyed', async () => {
    const { s } = await session();
    const base = s.listenerCount('update');
    const agents = Array.from({ length: 20 }, () => s.httpAgent());
    const dispatchers = Array.from({ length: 5 }, () => s.dispatcher());
    expect(s.listenerCount('update')).toBe(base + 1);
    for (const a of agents) a.destroy();
    expect(s.listenerCount('update')).toBe(base + 1);
    await Promise.all(dispatchers.map((d) => d.close()));
    expect(s.listenerCount('update')).toBe(base);
    await s.destroy();
  });

  it('every helper throws SessionClosedError once the session ended', async () => {
    const { s } = await session();
    await s.destroy();
    for (const call of [
      () => s.socketOptions(),
      () => s.connect(80, '127.0.0.1'),
      () => s.tlsConnect(443, '127.0.0.1'),
      () => s.httpAgent(),
      () => s.httpsAgent(),
      () => s.dispatcher(),
      () => s.dgram(),
      () => s.resolver(),
    ]) {
      expect(call).toThrow(SessionClosedError);
    }
  });

  it('socketOptions() follows the session', async () => {
    const { mock, s } = await session();
    expect(s.socketOptions()).toEqual({ localAddress: '127.0.0.1', family: 4 });
    mock.setUplinks([LO2]);
    expect(s.socketOptions()).toEqual({ localAddress: '127.0.0.2', family: 4 });
    mock.setUplinks([]);
    expect(() => s.socketOptions()).toThrow(NotConnectedError);
    await s.destroy();
  });
});
