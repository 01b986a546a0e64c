import type dgram from 'node:dgram';
import type { promises as dns } from 'node:dns';
import type http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import {
  type IpFamily,
  type Session,
  type SessionInfo,
  type SocketOptions,
  SourceIPRuleRequiredError,
  socketOptionsOf,
} from 'netsession';
import { expectAssignable, expectError, expectType } from 'tsd';
import { type Dispatcher, request } from 'undici';

declare const s: Session;
declare const info: SessionInfo;

// connect: no arguments is Session.Connect (a promise); a port and a host give a socket.
expectType<Promise<void>>(s.connect());
expectType<net.Socket>(s.connect(443, 'example.org'));
expectType<net.Socket>(s.connect(443, 'example.org', { family: 6, noDelay: true, keepAlive: true }));
expectError(s.connect(443));
expectError(s.connect('443', 'example.org'));
expectError(s.connect(443, 'example.org', { localAddress: '198.51.100.1' }));
expectError(s.connect(443, 'example.org', { family: 5 }));

// socketOptions and its pure counterpart.
expectType<SocketOptions>(s.socketOptions());
expectType<SocketOptions>(s.socketOptions({ family: 6, host: '2001:db8::1' }));
expectType<string>(s.socketOptions().localAddress);
expectType<IpFamily>(s.socketOptions().family);
expectType<SocketOptions>(socketOptionsOf(info, { host: 'example.org' }));
expectError(s.socketOptions({ family: 'inet6' }));
expectError((s.socketOptions().localAddress = 'x'));

// The other helpers return Node's and undici's own types.
expectType<tls.TLSSocket>(s.tlsConnect(443, 'example.org', { ca: 'pem', servername: 'example.org' }));
expectError(s.tlsConnect(443, 'example.org', { socket: null }));
expectType<http.Agent>(s.httpAgent({ keepAlive: true }));
expectType<https.Agent>(s.httpsAgent({ keepAlive: true, ca: 'pem' }));
// The dispatcher is undici's, and also what Node's global fetch takes, under strict NodeNext.
expectAssignable<Dispatcher>(s.dispatcher({ connections: 4, connect: { ca: 'pem' } }));
expectType<Promise<Response>>(fetch('https://example.org/', { dispatcher: s.dispatcher() }));
expectAssignable<Promise<unknown>>(request('https://example.org/', { dispatcher: s.dispatcher() }));
expectError(s.dispatcher({ localAddress: '198.51.100.1' }));
expectError(s.dispatcher({ connect: { family: 4 } }));
// s.fetch takes what the global fetch takes: a global Request, FormData, Blob, web streams.
expectType<Promise<Response>>(s.fetch('https://example.org/', { method: 'POST', body: 'x' }));
expectType<Promise<Response>>(s.fetch(new URL('https://example.org/')));
expectType<Promise<Response>>(s.fetch(new Request('https://example.org/', { method: 'PUT', body: 'x' })));
const form = new FormData();
form.append('file', new Blob(['hello']), 'hello.txt');
expectType<Promise<Response>>(s.fetch('https://example.org/upload', { method: 'POST', body: form }));
expectType<Promise<Response>>(
  s.fetch('https://example.org/upload', { method: 'POST', body: new Blob(['x'], { type: 'text/plain' }) }),
);
expectType<Promise<Response>>(
  s.fetch('https://example.org/upload', { method: 'POST', body: new ReadableStream<Uint8Array>(), duplex: 'half' }),
);
expectType<Promise<Response>>(
  s.fetch('https://example.org/', { body: new URLSearchParams({ a: '1' }), method: 'POST' }),
);
expectType<dgram.Socket>(s.dgram());
expectType<dgram.Socket>(s.dgram('udp6'));
expectType<dgram.Socket>(s.dgram({ type: 'udp4', port: 5353, reuseAddr: true }));
expectError(s.dgram('udp5'));
expectType<dns.Resolver>(s.resolver({ timeout: 500, tries: 1 }));

// The error that says what to do.
expectAssignable<{ code: 'NS_ERR_SOURCE_IP_RULE_REQUIRED' }>(new SourceIPRuleRequiredError('x'));
