/**
 * The authentication a bus connection starts with: SASL `EXTERNAL` with our uid (the bus checks
 * it against the socket's peer credentials). Resolves with the server's GUID once it said `OK`;
 * the caller sends `BEGIN` together with its first message.
 */
import type { Socket } from 'node:net';

const MAX_LINE = 4096;

/** Authenticates on a fresh socket (connected or connecting). On failure the socket is destroyed. */
export function authenticate(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let line = '';
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', fail);
      socket.removeListener('close', onClose);
      socket.removeListener('connect', send);
    };
    const fail = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onClose = (): void => fail(new Error('the bus closed the connection during authentication'));
    const send = (): void => {
      const uid = process.getuid?.() ?? 0;
      socket.write(`\0AUTH EXTERNAL ${Buffer.from(String(uid)).toString('hex')}\r\n`);
    };
    const onData = (chunk: Buffer): void => {
      line += chunk.toString('latin1');
      const eol = line.indexOf('\r\n');
      if (eol < 0) {
        if (line.length > MAX_LINE) fail(new Error('the bus sent an overlong authentication line'));
        return;
      }
      const reply = line.slice(0, eol);
      if (!reply.startsWith('OK ')) {
        fail(new Error(`the bus refused authentication: ${reply}`));
        return;
      }
      // Nothing follows OK until we send BEGIN.
      cleanup();
      resolve(reply.slice(3).trim());
    };
    const timer = setTimeout(() => fail(new Error(`no answer from the bus within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
    if (socket.connecting) socket.once('connect', send);
    else send();
  });
}
