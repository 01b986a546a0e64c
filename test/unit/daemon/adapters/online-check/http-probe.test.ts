import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HttpProbe,
  interpretReply,
  PROBE_USER_AGENT,
  parseReplyHead,
} from '../../../../../daemon/adapters/online-check/http-probe.js';
import type { OnlineCheckRequest } from '../../../../../daemon/ports.js';

/**
 * A raw TCP server on 127.0.0.1 that answers by request path, so the tests control every byte
 * (and can stay silent or hang up).
 */
const REPLIES: Record<string, string | null> = {
  '/ok': 'HTTP/1.1 200 OK\r\nX-ConnMan-Status: online\r\nContent-Length: 0\r\n\r\n',
  '/ok-empty-header': 'HTTP/1.0 200 OK\r\nx-connman-status:\r\n\r\n',
  '/portal': 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nlogin',
  '/redirect': 'HTTP/1.1 302 Found\r\nLocation: http://portal.example/login?x=1\r\nContent-Length: 0\r\n\r\n',
  '/relative': 'HTTP/1.1 307 Temporary Redirect\r\nLocation: /login\r\n\r\n',
  '/no-location': 'HTTP/1.1 303 See Other\r\n\r\n',
  '/500': 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n',
  '/204': 'HTTP/1.1 204 No Content\r\nX-ConnMan-Status: online\r\n\r\n',
  '/404': 'HTTP/1.1 404 Not Found\r\n\r\n',
  '/garbage': 'SSH-2.0-OpenSSH_9.6\r\n\r\n',
  '/huge': `HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(20000)}\r\n\r\n`,
  '/hangup': '',
  '/slow': null,
};

let server: net.Server;
let port: number;
const requests: string[] = [];
let closedSockets = 0;

beforeAll(async () => {
  server = net.createServer((sock) => {
    let buf = '';
    sock.on('close', () => closedSockets++);
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      requests.push(buf);
      const path = /^GET (\S+)/.exec(buf)?.[1]?.replace(/\?.*/, '') ?? '';
      const reply = REPLIES[path];
      if (reply === null) return; // /slow: never answer
      sock.end(reply ?? 'HTTP/1.1 404 Not Found\r\n\r\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as net.AddressInfo).port;
});

afterAll(() => {
  server.close();
});

function req(path: string, over: Partial<OnlineCheckRequest> = {}): OnlineCheckRequest {
  return {
    serviceId: 'lo',
    family: 4,
    ifname: 'lo',
    ifindex: 1,
    localAddress: '127.0.0.1',
    url: `http://127.0.0.1:${port}${path}`,
    ...over,
  };
}

const probe = new HttpProbe({ connectTimeoutMs: 0, replyTimeoutMs: 300 });
const run = (path: string, over: Partial<OnlineCheckRequest> = {}) =>
  probe.probe(req(path, over), new AbortController().signal);

describe('HttpProbe on loopback', () => {
  it('sends ConnMan-style GET with Host, User-Agent and Connection: close', async () => {
    requests.length = 0;
    expect(await run('/ok?a=b')).toEqual({ kind: 'online' });
    const text = requests[0] ?? '';
    expect(text.startsWith('GET /ok?a=b HTTP/1.1\r\n')).toBe(true);
    expect(text).toContain(`\r\nHost: 127.0.0.1:${port}\r\n`);
    expect(text).toContain(`\r\nUser-Agent: ${PROBE_USER_AGENT}\r\n`);
    expect(text).toContain('\r\nConnection: close\r\n');
    expect(text).not.toMatch(/\r\nAccept:/i);
  });

  it('200 with X-ConnMan-Status (any value, any case) is online', async () => {
    expect(await run('/ok-empty-header')).toEqual({ kind: 'online' });
  });

  it('200 without X-ConnMan-Status is a portal at the check URL', async () => {
    expect(await run('/portal')).toEqual({ kind: 'portal', location: `http://127.0.0.1:${port}/portal` });
  });

  it('redirects are portals at their Location (resolved against the URL)', async () => {
    expect(await run('/redirect')).toEqual({ kind: 'portal', location: 'http://portal.example/login?x=1' });
    expect(await run('/relative')).toEqual({ kind: 'portal', location: `http://127.0.0.1:${port}/login` });
    expect(await run('/no-location')).toEqual({ kind: 'portal', location: `http://127.0.0.1:${port}/no-location` });
  });

  it.each([
    ['/500', 'HTTP 500'],
    ['/204', 'HTTP 204'],
    ['/404', 'HTTP 404'],
    ['/garbage', 'not an HTTP/1.x reply'],
    ['/hangup', 'connection closed without a reply'],
    ['/huge', 'reply head longer than 8192 bytes'],
    ['/slow', 'no reply within 300 ms'],
  ])('%s is a failure: %s', async (path, reason) => {
    expect(await run(path)).toEqual({ kind: 'failure', reason });
  });

  it('a refused connection is a failure', async () => {
    const closed = net.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const freePort = (closed.address() as net.AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    expect(await probe.probe(req('/', { url: `http://127.0.0.1:${freePort}/` }), new AbortController().signal)).toEqual(
      {
        kind: 'failure',
        reason: 'connection refused',
      },
    );
  });

  it('abort rejects with the signal reason and closes the socket', async () => {
    const before = closedSockets;
    const count = requests.length;
    const ac = new AbortController();
    const slow = new HttpProbe({ connectTimeoutMs: 0 }).probe(req('/slow'), ac.signal);
    while (requests.length === count) await new Promise((r) => setTimeout(r, 5));
    ac.abort(new Error('service went away'));
    await expect(slow).rejects.toThrow('service went away');
    while (closedSockets === before) await new Promise((r) => setTimeout(r, 5));
    expect(closedSockets).toBe(before + 1);
  });

  it('an already aborted signal rejects without connecting', async () => {
    const count = requests.length;
    const ac = new AbortController();
    ac.abort();
    await expect(probe.probe(req('/ok'), ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(requests.length).toBe(count);
  });

  it('a device that does not exist is a failure (the socket really is device-bound)', async () => {
    const r = await run('/ok', { ifindex: 999_999, ifname: 'nsd-none0' });
    expect(r).toEqual({ kind: 'failure', reason: 'no device nsd-none0 (ifindex 999999)' });
  });

  it('a local address not on the device is a failure', async () => {
    expect(await run('/ok', { localAddress: '198.51.100.77' })).toEqual({
      kind: 'failure',
      reason: 'local address 198.51.100.77 not available',
    });
  });

  it('names resolve within the request family; a literal of the other family fails', async () => {
    expect(await run('/ok', { url: `http://localhost:${port}/ok` })).toEqual({ kind: 'online' });
    expect(await run('/ok', { family: 6, localAddress: '::1' })).toEqual({
      kind: 'failure',
      reason: '127.0.0.1 is not an IPv6 address',
    });
  });

  it('only http URLs are probed', async () => {
    expect(await run('/', { url: 'https://127.0.0.1/' })).toEqual({
      kind: 'failure',
      reason: "unsupported scheme 'https:' (http only)",
    });
    expect(await run('/', { url: 'not a url' })).toEqual({ kind: 'failure', reason: "bad URL 'not a url'" });
  });
});

describe('reply parsing', () => {
  it('waits for the end of the head and lower-cases header names', () => {
    expect(parseReplyHead(Buffer.from('HTTP/1.1 200 OK\r\nX-A: 1'))).toBeNull();
    const head = parseReplyHead(Buffer.from('HTTP/1.1 200 OK\r\nX-A: 1\r\nLocation: /x\r\n\r\nbody'));
    expect(head).toEqual({
      status: 200,
      headers: new Map([
        ['x-a', '1'],
        ['location', '/x'],
      ]),
    });
  });

  it('rejects a status line that is not HTTP/1.x', () => {
    expect(parseReplyHead(Buffer.from('HTTP/2 200\r\n\r\n'))).toBe('bad');
    expect(parseReplyHead(Buffer.from('HTTP/1.1 20 OK\r\n\r\n'))).toBe('bad');
  });

  it('300 is not treated as a redirect (no single Location to follow)', () => {
    expect(interpretReply({ status: 300, headers: new Map() }, 'http://x/')).toEqual({
      kind: 'failure',
      reason: 'HTTP 300',
    });
  });
});
