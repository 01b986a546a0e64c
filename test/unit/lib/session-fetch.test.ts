/**
 * `s.fetch` and `s.dispatcher()` with what Node's own fetch takes (lib/bind/dispatcher.ts), on a
 * loopback server through the MockTransport: the same calls typings/bind.test-d.ts compiles
 * under strict NodeNext, run for real.
 *
 * | call                                                        | expected                                                |
 * |-------------------------------------------------------------|---------------------------------------------------------|
 * | fetch(url, { dispatcher: s.dispatcher() }) (Node's global)   | answered, from the session's address                    |
 * | s.fetch(new Request(url, { method: 'PUT', body }))           | the server gets PUT and the body                        |
 * | s.fetch(url, { body: FormData with a Blob file })            | multipart/form-data with the file                       |
 * | s.fetch(url, { body: Blob }), a ReadableStream (duplex half) | the bytes arrive                                        |
 * | s.fetch(a Request of undici's own package)                   | converted, answered (not "[object Request]")            |
 * | s.fetch on a session without an address                     | NotConnectedError before anything is sent               |
 */
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { Request as UndiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, MockTransport, NotConnectedError } from '../../../lib/index.js';

let server: http.Server;
let base: string;
const seen: Array<{ method: string; type: string; body: string; client: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({
        method: req.method!,
        type: String(req.headers['content-type'] ?? ''),
        body,
        client: req.socket.remoteAddress!,
      });
      res.end(`${req.method} ${body.length}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function session() {
  const mock = new MockTransport({ uplinks: [{ interface: 'lo-b', bearer: 'wifi', ipv4: '127.0.0.2' }] });
  return createSession({ transport: mock, sourceIPRule: true });
}

describe('fetch with the global fetch types', () => {
  it('Node’s global fetch takes the session dispatcher', async () => {
    await using s = await session();
    const dispatcher = s.dispatcher();
    const res = await fetch(`${base}/global`, { dispatcher });
    expect(await res.text()).toBe('GET 0');
    expect(seen.at(-1)!.client).toBe('127.0.0.2');
    await dispatcher.close();
  });

  it('s.fetch takes a global Request, FormData, Blob and streams', async () => {
    await using s = await session();
    expect(await (await s.fetch(new Request(`${base}/req`, { method: 'PUT', body: 'hello' }))).text()).toBe('PUT 5');

    const form = new FormData();
    form.append('note', 'hi');
    form.append('file', new Blob(['file-content'], { type: 'text/plain' }), 'a.txt');
    await (await s.fetch(`${base}/form`, { method: 'POST', body: form })).text();
    expect(seen.at(-1)!.type).toMatch(/^multipart\/form-data; boundary=/);
    expect(seen.at(-1)!.body).toContain('filename="a.txt"');
    expect(seen.at(-1)!.body).toContain('file-content');

    expect(
      await (await s.fetch(`${base}/blob`, { method: 'POST', body: new Blob([new Uint8Array(300)]) })).text(),
    ).toBe('POST 300');
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('streamed'));
        c.close();
      },
    });
    expect(await (await s.fetch(`${base}/stream`, { method: 'POST', body: stream, duplex: 'half' })).text()).toBe(
      'POST 8',
    );
    expect(seen.slice(-4).every((x) => x.client === '127.0.0.2')).toBe(true);
  });

  it('a Request of undici’s own package is taken too', async () => {
    await using s = await session();
    const r = new UndiciRequest(`${base}/undici`, { method: 'POST', body: 'abc' });
    expect(await (await s.fetch(r as unknown as Request)).text()).toBe('POST 3');
  });

  it('fails before sending when the session has no address', async () => {
    const mock = new MockTransport();
    await using s = await createSession({ transport: mock, sourceIPRule: true });
    const before = seen.length;
    await expect(s.fetch(new Request(`${base}/nothing`))).rejects.toBeInstanceOf(NotConnectedError);
    expect(seen.length).toBe(before);
  });
});
