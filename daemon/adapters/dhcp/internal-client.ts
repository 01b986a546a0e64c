/**
 * DhcpClient in the daemon's own process (RFC 2131), report-only like the udhcpc adapter: it
 * never configures the interface, it reports leases. Talks through a packet socket
 * (packet-socket.ts) that is open only while an exchange runs, so a bound link costs nothing.
 *
 * A link that comes back with the lease it had asks for it again in one round trip
 * (INIT-REBOOT, §3.2/§4.3.2: a REQUEST with the remembered address in option 50, no server
 * identifier, broadcast); only a NAK or no answer within {@link InternalDhcpOptions.rebootTimeoutMs}
 * falls back to DISCOVER. The lease is remembered per interface when the client stops without a
 * release (the link lost its carrier: a RELEASE could not arrive, and the server still holds the
 * lease), until it expires or a server NAKs it.
 */
import { randomInt } from 'node:crypto';
import type { DhcpLeaseEvent } from '../../core/manage-plan.js';
import type { DhcpClient, StopOptions } from '../../ports.js';
import {
  type ClientMessage,
  decodeDhcp,
  decodeIpUdp,
  encodeDhcp,
  encodeIpUdp,
  MalformedPacket,
  MessageType,
  type ServerMessage,
} from './dhcp-packet.js';
import { eventOf, type Held, heldOf, unexpired } from './lease-times.js';
import { PacketSocket } from './packet-socket.js';

/** Options for {@link InternalDhcpClient}. */
export interface InternalDhcpOptions {
  /** First DISCOVER retransmission (ms); doubles up to {@link maxRetryMs} (RFC 2131 §4.1). Default 2000. */
  retryMs?: number;
  /** Default 32000. */
  maxRetryMs?: number;
  /** How long INIT-REBOOT waits for an answer before DISCOVER (ms, one retransmission halfway). Default 600. */
  rebootTimeoutMs?: number;
  log?: (level: 'debug' | 'info' | 'warn', msg: string) => void;
  /** Opens the packet socket (tests substitute a fake). */
  openSocket?: typeof PacketSocket.open;
  /** Wall clock (ms) for lease expiry. */
  now?: () => number;
}

type Phase = 'opening' | 'rebooting' | 'selecting' | 'requesting' | 'bound' | 'renewing' | 'rebinding' | 'stopped';

interface Instance {
  ifname: string;
  onLease: (e: DhcpLeaseEvent) => void;
  phase: Phase;
  sock: PacketSocket | null;
  /** The socket being opened, so stop() can wait for it. */
  opening: Promise<PacketSocket | null> | null;
  xid: number;
  exchangeStart: number;
  timer: NodeJS.Timeout | undefined;
  attempt: number;
  naks: number;
  offer: ServerMessage | null;
  lease: Held | null;
  /** Whether the daemon has been told about `lease` (a later ACK of it is a renew). */
  reported: boolean;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const BROADCAST = '255.255.255.255';
const ANY = '0.0.0.0';
/** Renewal and rebinding retransmit at half the time left, but not more often than this (§4.4.5). */
const MIN_RENEW_RETRY_MS = 60_000;
/** REQUEST retransmissions after an OFFER before starting over. */
const REQUEST_TRIES = 3;

export class InternalDhcpClient implements DhcpClient {
  readonly #instances = new Map<string, Instance>();
  /** Leases kept across a stop without release, by interface name. */
  readonly #remembered = new Map<string, Held>();
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #rebootTimeoutMs: number;
  readonly #log: NonNullable<InternalDhcpOptions['log']>;
  readonly #open: typeof PacketSocket.open;
  readonly #now: () => number;

  constructor(opts: InternalDhcpOptions = {}) {
    this.#retryMs = opts.retryMs ?? 2000;
    this.#maxRetryMs = opts.maxRetryMs ?? 32_000;
    this.#rebootTimeoutMs = opts.rebootTimeoutMs ?? 600;
    this.#log = opts.log ?? (() => {});
    this.#open = opts.openSocket ?? PacketSocket.open.bind(PacketSocket);
    this.#now = opts.now ?? Date.now;
  }

  start(ifname: string, onLease: (event: DhcpLeaseEvent) => void): void {
    if (this.#instances.has(ifname)) throw new Error(`DHCP client already running on ${ifname}`);
    const inst: Instance = {
      ifname,
      onLease,
      phase: 'opening',
      sock: null,
      opening: null,
      xid: 0,
      exchangeStart: 0,
      timer: undefined,
      attempt: 0,
      naks: 0,
      offer: null,
      lease: null,
      reported: false,
    };
    this.#instances.set(ifname, inst);
    const kept = this.#remembered.get(ifname);
    const valid = kept && unexpired(kept, this.#now());
    if (!valid) this.#remembered.delete(ifname);
    void this.#socket(inst).then((sock) => {
      if (!sock || inst.phase === 'stopped') return;
      if (valid && kept) this.#reboot(inst, kept);
      else this.#discover(inst);
    });
  }

  renew(ifname: string): void {
    const inst = this.#instances.get(ifname);
    if (inst?.phase === 'bound') void this.#renewing(inst);
  }

  async stop(ifname: string, opts: StopOptions = {}): Promise<void> {
    const inst = this.#instances.get(ifname);
    if (!inst) return;
    const release = opts.release ?? true;
    const wasOpening = inst.opening;
    inst.phase = 'stopped';
    clearTimeout(inst.timer);
    const lease = inst.lease;
    if (lease && release) {
      const sock = inst.sock ?? (await (wasOpening ?? this.#socket(inst)));
      try {
        sock?.send(
          encodeIpUdp(
            encodeDhcp({
              type: MessageType.RELEASE,
              xid: randomInt(2 ** 32),
              mac: sock.mac,
              ciaddr: lease.address,
              serverId: lease.serverId,
            }),
            lease.address,
            lease.serverId,
          ),
        );
      } catch (err) {
        this.#log('warn', `${ifname}: DHCPRELEASE not sent: ${(err as Error).message}`);
      }
      this.#remembered.delete(ifname);
    } else if (lease) {
      this.#remembered.set(ifname, lease);
    }
    await wasOpening;
    inst.sock?.close();
    inst.sock = null;
    this.#instances.delete(ifname);
    if (lease && inst.reported) this.#emit(inst, { type: 'release', ...eventOf(lease) });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#instances.keys()].map((ifname) => this.stop(ifname)));
  }

  /** The phase of `ifname`'s client (tests and diagnostics). */
  phaseOf(ifname: string): string | undefined {
    return this.#instances.get(ifname)?.phase;
  }

  // ---------------------------------------------------------------- the socket

  /** Opens the packet socket if it is not open; null once stopped (or when it cannot be opened). */
  #socket(inst: Instance): Promise<PacketSocket | null> {
    if (inst.sock) return Promise.resolve(inst.sock);
    inst.opening ??= this.#open(
      inst.ifname,
      (ip, info) => this.#packet(inst, ip, info.checksumReady),
      (err) => this.#log('warn', `${inst.ifname}: packet socket: ${err.message}`),
    ).then(
      (sock) => {
        inst.opening = null;
        inst.sock = sock;
        return sock;
      },
      (err: unknown) => {
        inst.opening = null;
        // Doubling, so a lasting cause (no CAP_NET_RAW, the link gone) is not logged every 2 s.
        const wait = Math.min(this.#maxRetryMs, this.#retryMs * 2 ** inst.attempt++);
        this.#log(
          'warn',
          `${inst.ifname}: cannot open a packet socket: ${(err as Error).message}; retrying in ${wait} ms`,
        );
        if (inst.phase !== 'stopped')
          inst.timer = setTimeout(
            () => void this.#socket(inst).then((s) => s && inst.phase !== 'stopped' && this.#discover(inst)),
            wait,
          );
        return null;
      },
    );
    return inst.opening;
  }

  /** Closes the socket while bound: nothing needs to be heard until T1. */
  #quiet(inst: Instance): void {
    inst.sock?.close();
    inst.sock = null;
  }

  #send(inst: Instance, m: Omit<ClientMessage, 'mac' | 'xid' | 'secs'>, src = ANY, dst = BROADCAST): void {
    const sock = inst.sock;
    if (!sock) return;
    const secs = (this.#now() - inst.exchangeStart) / 1000;
    try {
      sock.send(encodeIpUdp(encodeDhcp({ ...m, xid: inst.xid, mac: sock.mac, secs }), src, dst));
    } catch (err) {
      // A link without carrier or still down: the retransmission timer tries again.
      this.#log('debug', `${inst.ifname}: send failed: ${(err as Error).message}`);
    }
  }

  #newExchange(inst: Instance, phase: Phase): void {
    clearTimeout(inst.timer);
    inst.phase = phase;
    inst.xid = randomInt(2 ** 32);
    inst.exchangeStart = this.#now();
    inst.attempt = 0;
  }

  #after(inst: Instance, ms: number, fn: () => void): void {
    clearTimeout(inst.timer);
    inst.timer = setTimeout(fn, Math.min(ms, MAX_TIMER_MS));
  }

  // ---------------------------------------------------------------- the states

  /** INIT-REBOOT: ask for the remembered address; DISCOVER when nobody answers in time. */
  #reboot(inst: Instance, kept: Held): void {
    this.#newExchange(inst, 'rebooting');
    this.#log('debug', `${inst.ifname}: INIT-REBOOT requesting ${kept.address}`);
    const request = () => this.#send(inst, { type: MessageType.REQUEST, requestedIp: kept.address, broadcast: true });
    request();
    const half = Math.floor(this.#rebootTimeoutMs / 2);
    this.#after(inst, half, () => {
      request();
      this.#after(inst, this.#rebootTimeoutMs - half, () => {
        this.#log('info', `${inst.ifname}: no answer to INIT-REBOOT for ${kept.address}; discovering`);
        this.#discover(inst);
      });
    });
  }

  #discover(inst: Instance): void {
    this.#newExchange(inst, 'selecting');
    inst.offer = null;
    const hint = this.#remembered.get(inst.ifname)?.address;
    const round = () => {
      this.#send(inst, { type: MessageType.DISCOVER, broadcast: true, ...(hint ? { requestedIp: hint } : {}) });
      const wait = Math.min(this.#maxRetryMs, this.#retryMs * 2 ** inst.attempt++);
      this.#after(inst, wait, round);
    };
    round();
  }

  #request(inst: Instance, offer: ServerMessage): void {
    clearTimeout(inst.timer);
    inst.phase = 'requesting';
    inst.offer = offer;
    inst.attempt = 0;
    const round = () => {
      if (inst.attempt++ >= REQUEST_TRIES) return this.#discover(inst);
      this.#send(inst, {
        type: MessageType.REQUEST,
        requestedIp: offer.yiaddr,
        serverId: offer.serverId,
        broadcast: true,
      });
      this.#after(inst, this.#retryMs, round);
    };
    round();
  }

  async #renewing(inst: Instance): Promise<void> {
    const lease = inst.lease;
    if (!lease) return;
    this.#newExchange(inst, 'renewing');
    if (!(await this.#socket(inst)) || inst.phase !== 'renewing') return;
    const t2At = lease.since + lease.t2 * 1000;
    const round = () => {
      this.#send(inst, { type: MessageType.REQUEST, ciaddr: lease.address }, lease.address, lease.serverId);
      const left = t2At - this.#now();
      if (left <= 0) return void this.#rebinding(inst);
      this.#after(inst, Math.min(left, Math.max(left / 2, MIN_RENEW_RETRY_MS)), round);
    };
    round();
  }

  async #rebinding(inst: Instance): Promise<void> {
    const lease = inst.lease;
    if (!lease) return;
    this.#newExchange(inst, 'rebinding');
    if (!(await this.#socket(inst)) || inst.phase !== 'rebinding') return;
    const endAt = lease.since + lease.leaseSeconds * 1000;
    const round = () => {
      this.#send(inst, { type: MessageType.REQUEST, ciaddr: lease.address }, lease.address, BROADCAST);
      const left = endAt - this.#now();
      if (left <= 0) return this.#expired(inst);
      this.#after(inst, Math.min(left, Math.max(left / 2, MIN_RENEW_RETRY_MS)), round);
    };
    round();
  }

  #expired(inst: Instance): void {
    const lease = inst.lease;
    inst.lease = null;
    this.#remembered.delete(inst.ifname);
    if (lease && inst.reported) this.#emit(inst, { type: 'expire', ...eventOf(lease) });
    inst.reported = false;
    this.#discover(inst);
  }

  #bind(inst: Instance, ack: ServerMessage): void {
    const held = heldOf(ack, this.#now());
    const same = inst.reported && inst.lease?.address === held.address;
    inst.lease = held;
    inst.naks = 0;
    inst.offer = null;
    clearTimeout(inst.timer);
    inst.phase = 'bound';
    this.#quiet(inst);
    // An infinite lease (or none given) has no timers.
    if (held.leaseSeconds > 0) this.#after(inst, held.t1 * 1000, () => void this.#renewing(inst));
    inst.reported = true;
    this.#emit(inst, { type: same ? 'renew' : 'bound', ...eventOf(held) });
  }

  #nak(inst: Instance, from: string): void {
    this.#log('info', `${inst.ifname}: DHCPNAK from ${from} in ${inst.phase}`);
    this.#remembered.delete(inst.ifname);
    if (inst.lease && inst.reported) this.#emit(inst, { type: 'expire', ...eventOf(inst.lease) });
    inst.lease = null;
    inst.reported = false;
    // Back off on repeated NAKs so a confused server cannot make us spin.
    const delay = inst.naks === 0 ? 0 : Math.min(this.#maxRetryMs, 250 * 2 ** inst.naks);
    inst.naks++;
    clearTimeout(inst.timer);
    if (delay === 0) this.#discover(inst);
    else this.#after(inst, delay, () => this.#discover(inst));
  }

  #packet(inst: Instance, ip: Buffer, checksumReady: boolean): void {
    let m: ServerMessage;
    try {
      const { src, payload } = decodeIpUdp(ip, { checksumReady });
      m = decodeDhcp(payload, src);
    } catch (err) {
      if (err instanceof MalformedPacket) this.#log('debug', `${inst.ifname}: dropped a datagram: ${err.message}`);
      else this.#log('warn', `${inst.ifname}: ${(err as Error).message}`);
      return;
    }
    const mac = inst.sock?.mac;
    if (m.xid !== inst.xid || !mac || !m.chaddr.equals(mac)) return;
    switch (inst.phase) {
      case 'selecting':
        if (m.type === MessageType.OFFER) this.#request(inst, m);
        return;
      case 'requesting':
        if (m.type === MessageType.ACK && m.yiaddr === inst.offer?.yiaddr) this.#bind(inst, m);
        else if (m.type === MessageType.NAK && m.serverId === inst.offer?.serverId) this.#nak(inst, m.serverId);
        return;
      case 'rebooting':
      case 'renewing':
      case 'rebinding':
        if (m.type === MessageType.ACK) this.#bind(inst, m);
        else if (m.type === MessageType.NAK) this.#nak(inst, m.serverId);
        return;
      default:
        return;
    }
  }

  #emit(inst: Instance, e: DhcpLeaseEvent): void {
    try {
      inst.onLease(e);
    } catch (err) {
      this.#log('warn', `${inst.ifname}: lease listener threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
