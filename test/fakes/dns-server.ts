/**
 * A minimal DNS server for unit tests (UDP, A and AAAA only): answers the names it was given and
 * NXDOMAIN for the rest, and records who asked. Enough to see which server a resolver used and
 * from which address; nothing more.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';

export interface FakeDnsServer {
  /** `127.0.0.1:port`, as `Resolver.setServers` takes it. */
  readonly address: string;
  /** Each query: the name, the type (1 = A, 28 = AAAA) and the client's address. */
  readonly queries: Array<{ name: string; type: number; from: string }>;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): [string, number] {
  const labels: string[] = [];
  for (let len = msg[offset]!; len !== 0; len = msg[offset]!) {
    labels.push(msg.subarray(offset + 1, offset + 1 + len).toString('ascii'));
    offset += len + 1;
  }
  return [labels.join('.'), offset + 1];
}

/** Starts a server on 127.0.0.1 that answers `records` (name → addresses). */
export async function startFakeDns(records: Record<string, string[]>): Promise<FakeDnsServer> {
  const socket = dgram.createSocket('udp4');
  const queries: FakeDnsServer['queries'] = [];
  socket.on('message', (msg, rinfo) => {
    const [name, end] = readName(msg, 12);
    const type = msg.readUInt16BE(end);
    queries.push({ name, type, from: rinfo.address });
    const answers = (records[name.toLowerCase()] ?? []).filter((a) => net.isIP(a) === (type === 28 ? 6 : 4));
    const known = Object.hasOwn(records, name.toLowerCase());
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, RD+RA, NOERROR or NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const question = msg.subarray(12, end + 4);
    const rrs = answers.map((a) => {
      const rdata =
        type === 28
          ? Buffer.from(
              a.split(':').length === 8
                ? a.split(':').flatMap((h) => [parseInt(h, 16) >> 8, parseInt(h, 16) & 0xff])
                : [],
            )
          : Buffer.from(a.split('.').map(Number));
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      rr.writeUInt16BE(type, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    socket.send(Buffer.concat([header, question, ...rrs]), rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
