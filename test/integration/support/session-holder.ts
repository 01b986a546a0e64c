/**
 * Test side of support/session-holder.cjs: a ConnMan session client that runs as another uid or
 * inside a cgroup (the daemon classifies traffic by the identity of the process that created the
 * session), driven over a unix socket because the harness starts processes with stdin closed.
 *
 * ```ts
 * const h = await Holder.start(sb, 'a', { user: { uid, gid } });
 * const path = await h.create('/app/1', { AllowedInterface: ['s', 'eth-b'] });
 * await h.waitFor('/app/1', (s) => s.Interface === 'eth-b', 'bound to eth-b');
 * ```
 */
import { chmodSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BUS_NAME, INTERFACES, NETSESSION_INTERFACE } from '../../../lib/protocol.js';
import { REPO_ROOT } from '../harness/daemon.js';
import { waitFor } from '../harness/exec.js';
import type { RunAs, Sandbox, SandboxProcess } from '../harness/sandbox.js';

const HOLDER_SCRIPT = fileURLToPath(new URL('./session-holder.cjs', import.meta.url));

/** One reply from the holder. */
export interface HolderReply {
  ok: boolean;
  body?: unknown[];
  name?: string;
  message?: string;
}

/** A session client process running as another identity, and the socket that drives it. */
export class Holder {
  #seq = 0;
  readonly #pending = new Map<number, (r: HolderReply) => void>();
  readonly #updates = new Map<string, Array<Record<string, unknown>>>();
  readonly #waiters: Array<() => void> = [];
  releases = 0;

  private constructor(
    readonly label: string,
    readonly proc: SandboxProcess,
    readonly sock: Socket,
  ) {
    createInterface({ input: sock }).on('line', (line) => {
      const e = JSON.parse(line) as {
        ev: string;
        id?: number;
        notifier?: string;
        values?: Record<string, unknown>;
      } & HolderReply;
      if (e.ev === 'reply' && e.id !== undefined) {
        this.#pending.get(e.id)?.(e);
        this.#pending.delete(e.id);
      } else if (e.ev === 'update' && e.notifier && e.values) {
        const list = this.#updates.get(e.notifier) ?? [];
        list.push(e.values);
        this.#updates.set(e.notifier, list);
      } else if (e.ev === 'release') {
        this.releases++;
      } else if (e.ev === 'ready') {
        this.ready = e as unknown as { uid: number; gid: number; pid: number };
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    sock.on('error', () => undefined);
  }

  ready: { uid: number; gid: number; pid: number } | null = null;

  /** Starts a holder in the device namespace as `user`, optionally inside cgroup `cgroup`. */
  static async start(sb: Sandbox, label: string, opts: { user?: RunAs; cgroup?: string } = {}): Promise<Holder> {
    const control = join(sb.tmpDir, `holder-${label}.sock`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(control, resolve);
    });
    chmodSync(control, 0o666);
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const cfg = {
      address: sb.dbusAddress,
      control,
      busName: BUS_NAME,
      managerInterface: INTERFACES.manager,
      sessionInterface: INTERFACES.session,
      notificationInterface: INTERFACES.notification,
      extensionInterface: NETSESSION_INTERFACE,
    };
    const argv = [process.execPath, HOLDER_SCRIPT, JSON.stringify(cfg)];
    // The daemon reads the caller's cgroup from /proc/<pid>/cgroup: join it before connecting.
    const cmd = opts.cgroup
      ? [
          'sh',
          '-c',
          `mount -t cgroup2 none /sys/fs/cgroup && echo $$ > /sys/fs/cgroup${opts.cgroup}/cgroup.procs && exec "$@"`,
          'holder',
          ...argv,
        ]
      : argv;
    const proc = sb.spawn(sb.devNs, cmd, { cwd: REPO_ROOT, ...(opts.user ? { user: opts.user } : {}) });
    try {
      const sock = await Promise.race([
        accepted,
        proc.exited.then((e) => {
          throw new Error(`holder ${label} exited (${JSON.stringify(e)}): ${proc.stderr}`);
        }),
      ]);
      const h = new Holder(label, proc, sock);
      await waitFor(`holder ${label} on the bus`, () => h.ready ?? undefined, { timeoutMs: 10_000 });
      return h;
    } finally {
      server.close();
    }
  }

  async request(req: Record<string, unknown>): Promise<unknown[]> {
    const id = ++this.#seq;
    const reply = new Promise<HolderReply>((resolve) => this.#pending.set(id, resolve));
    this.sock.write(`${JSON.stringify({ id, ...req })}\n`);
    const r = await reply;
    if (!r.ok) throw new Error(`holder ${this.label} ${String(req.op)}: ${r.name}: ${r.message}`);
    return r.body ?? [];
  }

  /** CreateSession; settings as `{ Key: [signature, value] }`. Returns the session path. */
  async create(notifier: string, settings: Record<string, [string, unknown]> = {}): Promise<string> {
    this.#updates.delete(notifier);
    const [path] = await this.request({ op: 'create', notifier, settings });
    return path as string;
  }

  change(path: string, key: string, sig: string, value: unknown): Promise<unknown[]> {
    return this.request({ op: 'change', path, key, sig, value });
  }

  /** Merged view of every Update this notifier received. */
  settings(notifier: string): Record<string, unknown> {
    return Object.assign({}, ...(this.#updates.get(notifier) ?? []));
  }

  async waitFor(
    notifier: string,
    pred: (s: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.settings(notifier))) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `holder ${this.label}: timed out waiting for ${what}; settings: ${JSON.stringify(this.settings(notifier))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.settings(notifier);
  }

  close(): void {
    this.sock.destroy();
  }
}
