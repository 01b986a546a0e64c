/**
 * Per-uplink DNS (lib/bind/lookup.ts): with the MockTransport on loopback uplinks, each with its
 * own fake DNS server (test/fakes/dns-server.ts), every bind helper resolves names through the
 * session's uplink's servers, from the session's address; an uplink without servers falls back
 * to the system resolver.
 *
 * | situation                                            | expected                                                    |
 * |------------------------------------------------------|-------------------------------------------------------------|
 * | session on lo-a (servers: A), name only A knows       | resolver(), connect(), httpAgent, dispatcher, fetch, dgram send reach it; A saw the queries from 127.0.0.1 |
 * | session on lo-b (servers: B, which does not know it)  | resolver() ENOTFOUND; fetch fails; B saw the query           |
 * | the session moves lo-a -> lo-b                        | settings.nameservers follow, 'nameservers' fires             |
 * | uplink without servers                                | resolver() asks the system's servers                         |
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, MockTransport, type MockUplink } from '../../../lib/index.js';
import { type FakeDnsServer, startFakeDns } from '../../fakes/dns-server.js';

let server: http.Server;
let port: number;
let dnsA: FakeDnsServer;
let dnsB: FakeDnsServer;

beforeAll(async () => {
  server = http.createServer((req, res) => res.end(req.socket.remoteAddress));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as net.AddressInfo).port;
  dnsA = await startFakeDns({ 'only-a.test': ['127.0.0.1'] });
  dnsB = await startFakeDns({ 'other.test': ['127.0.0.1'] });
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await dnsA.close();
  await dnsB.close();
});

const uplinks = (): MockUplink[] => [
  { interface: 'lo-a', bearer: 'cellular', ipv4: '127.0.0.1', nameservers: [dnsA.address] },
  { interface: 'lo-b', bearer: 'wifi', ipv4: '127.0.0.1', nameservers: [dnsB.address] },
];

function get(agent: http.Agent, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('names resolve through the uplink of the session', () => {
  it('every bind helper asks the uplink’s own servers, from the session’s address', async () => {
    const mock = new MockTransport({ uplinks: uplinks() });
    await using s = await createSession({ transport: mock, allowedBearers: ['cellular'], sourceIPRule: true });
    expect(s.interface).toBe('lo-a');
    expect(s.settings.nameservers).toEqual([dnsA.address]);
    dnsA.queries.length = 0;

    await expect(s.resolver().resolve4('only-a.test')).resolves.toEqual(['127.0.0.1']);
    const sock = s.connect(port, 'only-a.test');
    await once(sock, 'connect');
    expect(sock.remoteAddress).toBe('127.0.0.1');
    sock.destroy();
    const agent = s.httpAgent();
    await expect(get(agent, 'only-a.test')).resolves.toBe('127.0.0.1');
    agent.destroy();
    const res = await s.fetch(`http://only-a.test:${port}/`);
    expect(await res.text()).toBe('127.0.0.1');
    // Node's global fetch with the session's dispatcher resolves the same way.
    const dispatcher = s.dispatcher();
    const viaGlobal = await fetch(`http://only-a.test:${port}/`, { dispatcher });
    expect(await viaGlobal.text()).toBe('127.0.0.1');
    await dispatcher.close();

    // dgram's send() to a name resolves the same way.
    const udpServer = dgram.createSocket('udp4');
    udpServer.bind(0, '127.0.0.1');
    await once(udpServer, 'listening');
    const got = once(udpServer, 'message');
    const udp = s.dgram();
    udp.send('ping', udpServer.address().port, 'only-a.test');
    const [msg] = (await got) as [Buffer];
    expect(msg.toString()).toBe('ping');
    udp.close();
    udpServer.close();

    expect(dnsA.queries.filter((q) => q.name === 'only-a.test' && q.type === 1).length).toBeGreaterThanOrEqual(6);
    expect(dnsA.queries.every((q) => q.from === '127.0.0.1')).toBe(true);
  });

  it('a name only another uplink’s server knows does not resolve, and the info follows a move', async () => {
    const mock = new MockTransport({ uplinks: uplinks() });
    await using s = await createSession({ transport: mock, allowedBearers: ['wifi', 'cellular'], sourceIPRule: true });
    expect(s.interface).toBe('lo-b');
    dnsB.queries.length = 0;
    await expect(s.resolver().resolve4('only-a.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(s.fetch(`http://only-a.test:${port}/`)).rejects.toThrow();
    expect(dnsB.queries.some((q) => q.name === 'only-a.test')).toBe(true);

    const seen: Array<readonly string[]> = [];
    s.on('nameservers', (ns) => seen.push(ns));
    await s.change({ allowedBearers: ['cellular'] });
    expect(s.settings.nameservers).toEqual([dnsA.address]);
    expect(seen).toEqual([[dnsA.address]]);
    const res = await s.fetch(`http://only-a.test:${port}/`);
    expect(await res.text()).toBe('127.0.0.1');
  });

  it('an uplink without servers falls back to the system resolver', async () => {
    const mock = new MockTransport({ uplinks: [{ interface: 'lo-a', bearer: 'ethernet', ipv4: '127.0.0.1' }] });
    await using s = await createSession({ transport: mock, sourceIPRule: true });
    expect(s.settings.nameservers).toEqual([]);
    expect(s.resolver().getServers()).toEqual(dns.getServers());
  });
});
