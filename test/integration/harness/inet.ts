/**
 * The internet host: starts `http-server.cjs` in the internet namespace and talks to its control
 * socket (a unix socket in the sandbox's temp dir, reachable from the root namespace).
 */
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { InetPlan } from './plan.js';

/** Path of the server script, for `ip netns exec <inet> node <script>`. */
export const HTTP_SERVER_SCRIPT = fileURLToPath(new URL('./http-server.cjs', import.meta.url));

/** How the online-check endpoint answers. */
export type OnlineMode = 'online' | 'portal' | 'redirect' | 'error' | 'down';

/** One request as the internet host saw it. */
export interface HttpLogEntry {
  /** ms since the epoch, when the request had been read. */
  time: number;
  /** Source address of the client as seen by the server (no NAT anywhere: the device's address). */
  client: string;
  clientPort: number;
  /** Server address the request came in on (203.0.113.80 or 2001:db8:cafe::80). */
  local: string;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Raw request target, with the query string. */
  url: string;
  status: number;
  /** Size of the response body. */
  bytes: number;
  /** Size of the request body. */
  bytesIn: number;
  /** The online mode applied (online-check requests only). */
  mode: OnlineMode | null;
}

/** Environment for the server process. */
export function httpServerEnv(inet: InetPlan, controlSocket: string): Record<string, string> {
  return { NSH_CONTROL: controlSocket, NSH_ADDR4: inet.addr4, NSH_ADDR6: inet.addr6, NSH_PORT: String(inet.port) };
}

/** Client of the server's control socket. */
export class HttpControl {
  constructor(readonly socketPath: string) {}

  /** All requests seen since start (or since {@link clearLog}). */
  log(): Promise<HttpLogEntry[]> {
    return this.#call<HttpLogEntry[]>('GET', '/log');
  }

  async clearLog(): Promise<void> {
    await this.#call('DELETE', '/log');
  }

  /**
   * Without `subnets`: sets the mode for everyone and drops per-uplink overrides. With `key` and
   * `subnets`: overrides the mode for clients from those subnets (`mode: null` removes it).
   */
  async setMode(mode: OnlineMode | null, override?: { key: string; subnets: Array<[string, number]> }): Promise<void> {
    await this.#call('PUT', '/mode', override ? { mode, ...override } : { mode });
  }

  #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers:
            payload === undefined
              ? {}
              : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            if (res.statusCode !== 200)
              return reject(new Error(`http-server control ${method} ${path}: ${res.statusCode} ${text}`));
            try {
              resolve(JSON.parse(text) as T);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error(`http-server control ${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
