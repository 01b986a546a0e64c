/**
 * The online-check probe: one HTTP/1.1 GET through one service's interface, reduced to
 * online / portal / failure the way ConnMan's `wispr_portal_web_result` reads a reply.
 *
 * The request is written by hand over a device-bound socket (SO_BINDTOIFINDEX) that is also bound
 * to the service's address, so it leaves through that interface whatever the main table's best
 * route is; only the status line and headers are read. http:// only: ConnMan's check URLs are
 * plain HTTP (a portal cannot intercept TLS usefully). Host names resolve with the system
 * resolver restricted to the request's family; per-interface DNS is not done yet.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import type { OnlineCheckResult } from '../../core/online-schedule.js';
import type { OnlineCheck, OnlineCheckRequest } from '../../ports.js';
import { openDeviceBoundSocket, SocketSetupError } from './bound-socket.js';

/**
 * ConnMan's User-Agent. Check servers (ipv4.connman.net and look-alikes) key on it to add
 * `X-ConnMan-Status`; portals that whitelist ConnMan's probe also match on it.
 */
export const PROBE_USER_AGENT = 'ConnMan/1.41 wispr';

/** Hard cap when OnlineCheckConnectTimeout is 0, and the default wait for the reply head. */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;

/** A probe reads the status line and headers only; anything longer is not a check server. */
const MAX_HEAD_BYTES = 8192;

const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Options of {@link HttpProbe}. */
export interface HttpProbeOptions {
  /** OnlineCheckConnectTimeout in ms (covers name resolution and connect); 0 means {@link DEFAULT_PROBE_TIMEOUT_MS}. */
  connectTimeoutMs: number;
  /** Wait between connect and the end of the reply headers; default {@link DEFAULT_PROBE_TIMEOUT_MS}. */
  replyTimeoutMs?: number;
}

/** Status line and headers of a reply (header names lower-cased). */
export interface ReplyHead {
  status: number;
  headers: ReadonlyMap<string, string>;
}

/**
 * Parses a reply head. Returns null while the head is incomplete, 'bad' when the status line is
 * not HTTP/1.x.
 */
export function parseReplyHead(data: Buffer): ReplyHead | null | 'bad' {
  const end = data.indexOf('\r\n\r\n');
  const firstLine = data.indexOf('\r\n');
  if (firstLine >= 0) {
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(data.subarray(0, firstLine).toString('latin1'));
    if (!status) return 'bad';
    if (end < 0) return null;
    const headers = new Map<string, string>();
    for (const line of data
      .subarray(firstLine + 2, end)
      .toString('latin1')
      .split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
    }
    return { status: Number(status[1]), headers };
  }
  return null;
}

/**
 * ConnMan's reading of a reply, with its gaps closed: every status it leaves hanging
 * (204, 500, ...) is a failure so the scheduler retries it.
 */
export function interpretReply(head: ReplyHead, url: string): OnlineCheckResult {
  if (head.status === 200) {
    return head.headers.has('x-connman-status') ? { kind: 'online' } : { kind: 'portal', location: url };
  }
  if (REDIRECTS.has(head.status)) {
    const location = head.headers.get('location');
    if (location) {
      try {
        return { kind: 'portal', location: new URL(location, url).href };
      } catch {
        // An unparseable Location still says "portal"; point at what we asked for.
      }
    }
    return { kind: 'portal', location: url };
  }
  return { kind: 'failure', reason: `HTTP ${head.status}` };
}

const ERROR_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connect timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed while sending',
};

function describe(err: unknown, request: OnlineCheckRequest): string {
  if (err instanceof SocketSetupError) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EADDRNOTAVAIL') return `local address ${request.localAddress} not available`;
  // SO_BINDTOIFINDEX accepts any index (seen on 6.18); a gone device shows up at connect().
  if (code === 'ENODEV') return `no device ${request.ifname} (ifindex ${request.ifindex})`;
  if (typeof code === 'string') return ERROR_TEXT[code] ?? code;
  return err instanceof Error ? err.message : String(err);
}

function failure(reason: string): OnlineCheckResult {
  return { kind: 'failure', reason };
}

/** HTTP online check bound to the service's interface and address. */
export class HttpProbe implements OnlineCheck {
  private readonly connectTimeoutMs: number;
  private readonly replyTimeoutMs: number;

  constructor(options: HttpProbeOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs > 0 ? options.connectTimeoutMs : DEFAULT_PROBE_TIMEOUT_MS;
    this.replyTimeoutMs = options.replyTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  }

  /**
   * Runs one probe. Every network outcome resolves (failures carry a short reason); only an
   * abort rejects, with `signal.reason`, so a caller never mistakes its own cancel for a failed check.
   */
  probe(request: OnlineCheckRequest, signal: AbortSignal): Promise<OnlineCheckResult> {
    if (signal.aborted) return Promise.reject(signal.reason);
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return Promise.resolve(failure(`bad URL '${request.url}'`));
    }
    if (url.protocol !== 'http:') return Promise.resolve(failure(`unsupported scheme '${url.protocol}' (http only)`));

    return new Promise<OnlineCheckResult>((resolve, reject) => {
      let socket: net.Socket | undefined;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (outcome: OnlineCheckResult | { abort: unknown }): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket?.destroy();
        if ('abort' in outcome) reject(outcome.abort);
        else resolve(outcome);
      };
      const onAbort = (): void => finish({ abort: signal.reason });
      signal.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => finish(failure(`connect timeout (${this.connectTimeoutMs} ms)`)), this.connectTimeoutMs);

      const connect = async (): Promise<void> => {
        const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
        let address = host;
        const literal = net.isIP(host);
        if (literal !== 0 && literal !== request.family) {
          return finish(failure(`${host} is not an IPv${request.family} address`));
        }
        if (literal === 0) {
          try {
            address = (await dns.lookup(host, { family: request.family })).address;
          } catch (err) {
            return finish(failure(`DNS: ${host}: ${(err as { code?: string }).code ?? String(err)}`));
          }
        }
        if (done) return;
        let s: net.Socket;
        try {
          s = await openDeviceBoundSocket(request.family, request.ifindex, request.ifname);
        } catch (err) {
          return finish(failure(describe(err, request)));
        }
        if (done) {
          s.destroy();
          return;
        }
        socket = s;
        let head = Buffer.alloc(0);
        s.on('error', (err) => finish(failure(describe(err, request))));
        s.on('close', () =>
          finish(
            failure(
              head.length === 0 ? 'connection closed without a reply' : 'connection closed inside the reply head',
            ),
          ),
        );
        s.on('connect', () => {
          clearTimeout(timer);
          timer = setTimeout(() => finish(failure(`no reply within ${this.replyTimeoutMs} ms`)), this.replyTimeoutMs);
          s.write(
            `GET ${url.pathname}${url.search} HTTP/1.1\r\n` +
              `Host: ${url.host}\r\n` +
              `User-Agent: ${PROBE_USER_AGENT}\r\n` +
              'Connection: close\r\n\r\n',
          );
        });
        s.on('data', (chunk: Buffer) => {
          head = Buffer.concat([head, chunk]).subarray(0, MAX_HEAD_BYTES);
          const parsed = parseReplyHead(head);
          if (parsed === 'bad') return finish(failure('not an HTTP/1.x reply'));
          if (parsed) return finish(interpretReply(parsed, url.href));
          if (head.length >= MAX_HEAD_BYTES) finish(failure(`reply head longer than ${MAX_HEAD_BYTES} bytes`));
        });
        s.connect({
          host: address,
          port: url.port === '' ? 80 : Number(url.port),
          family: request.family,
          ...(request.localAddress ? { localAddress: request.localAddress } : {}),
        });
      };
      connect().catch((err: unknown) => finish(failure(describe(err, request))));
    });
  }
}
