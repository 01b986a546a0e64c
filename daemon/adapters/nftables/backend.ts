/**
 * The nftables datapath: {@link Firewall} (classification, marking, SNAT) and {@link Accounting}
 * (per-session counters) over one table `inet <table>` that the daemon owns.
 *
 * Two paths:
 * - **Session path** (every apply that is not a verify): the change from the state applied last
 *   (delta.ts) goes to the kernel as one nf_tables netlink batch over the daemon's own socket
 *   (netlink-client.ts): no process spawned, cost proportional to what changed. It covers
 *   sessions added, removed, moved or re-tagged and uid/gid/source classifiers.
 * - **Full path** (start-up, verify, after a failure, and changes the session path does not
 *   cover: masks, SNAT entries, cgroup classifiers): the desired table (ruleset.ts) is diffed
 *   against what the kernel holds (diff.ts) and the difference goes over the same socket
 *   (netlink-ops.ts, netlink-table.ts), split into batches under the socket's send limit. nft
 *   (script.ts, nft.ts) runs it only when there is no socket, or when the diff must remove
 *   something the encoder never writes (an object another tool left in the table).
 *
 * "What the kernel holds" is the table as this adapter last wrote it, kept in memory, because
 * reading a 10,000-session table back costs hundreds of milliseconds. The kernel is read back
 * instead:
 * - on the first apply: one GETTABLE over netlink; if the table exists (a crashed run left it),
 *   `nft -j list table` reads it so it is adopted, not duplicated; if not, nothing is read and
 *   no process runs,
 * - when asked: `apply(state, { verify: true })` or {@link NftablesBackend.verify} (the periodic
 *   verify: `nft -j`, off the session path),
 * - after a failed batch (the cache may be wrong), which is then retried once from the read-back;
 *   a netlink batch the kernel refused (or lacked a feature for), or a receive overrun (ENOBUFS)
 *   on the socket, is logged as one line and retried the same way. A batch is all-or-nothing in
 *   the kernel, so no session is ever left half-applied.
 * If the batch still fails on a fresh read-back, the table is deleted and built from scratch
 * (counters are lost then; it is logged as an error); if even that fails, apply rejects.
 * Changes made from outside are therefore undone at the next verifying apply, not before.
 *
 * Calls are serialised: an apply never interleaves with another apply, a clear or a reset.
 */
import { performance } from 'node:perf_hooks';
import type { FirewallState } from '../../core/kernel-state-types.js';
import type { Counters } from '../../core/statistics-schedule.js';
import type { Accounting, Logger } from '../../ports.js';
import { type ApplyStats, FirewallBackendBase } from '../firewall/backend-base.js';
import type { CgroupRef } from '../firewall/cgroup.js';
import { createCgroupResolver } from '../firewall/cgroup.js';
import { NetlinkOverrunError } from '../netlink/request-socket.js';
import { countersFromNamed, parseCounters } from './counters.js';
import { planDelta } from './delta.js';
import { indexState, type SessionIndex } from './delta-index.js';
import { diffTable } from './diff.js';
import type { Op, TableModel } from './model.js';
import { countChanges, NFT_FAMILY } from './model.js';
import { type NetlinkTransport, NftNetlinkClient, NftNetlinkError, openNftNetlink } from './netlink-client.js';
import { opsToNetlink } from './netlink-ops.js';
import { deleteTable, NetlinkUnsupportedError } from './netlink-table.js';
import type { NftRunner, NftRunnerOptions } from './nft.js';
import { createNftRunner, NftError } from './nft.js';
import { parseTableListing } from './readback.js';
import { buildRuleset, RX_PREFIX, TX_PREFIX } from './ruleset.js';
import { opsToScript } from './script.js';

/** Options of {@link createNftablesBackend}. */
export interface NftablesBackendOptions {
  /** Name of the daemon's table in family inet (default `netsession`). */
  table?: string;
  /** How nft is run (default: the real binary, see nft.ts). */
  runner?: NftRunner;
  /** Options of the default runner. */
  nft?: NftRunnerOptions;
  /** Makes a cgroup resolver for one apply (default: from this process's mounts, see cgroup.ts). */
  cgroupResolver?: () => (path: string) => CgroupRef | null;
  /**
   * The nf_tables netlink socket of the session path: opened on first use by default (when no
   * `runner` is given); `false` sends everything through nft; a function supplies a transport.
   */
  netlink?: boolean | (() => Promise<NetlinkTransport>);
  log?: Logger;
}

export type { ApplyOptions, ApplyStats } from '../firewall/backend-base.js';

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** Up to this many sessions are read counter by counter; more take one dump of the table. */
const FEW_SESSIONS = 256;

function counterNames(sessionKeys: readonly string[]): string[] {
  return sessionKeys.flatMap((k) => [`${TX_PREFIX}${k}`, `${RX_PREFIX}${k}`]);
}

/** nftables implementation of the Firewall and Accounting ports. */
export class NftablesBackend extends FirewallBackendBase implements Accounting {
  readonly table: string;
  readonly #runner: NftRunner;
  readonly #resolver: () => (path: string) => CgroupRef | null;
  /** The kernel's table as last written or read: null = absent, undefined = unknown. */
  #known: TableModel | null | undefined = undefined;
  /** The state #known was built from, indexed for the session path (null: take the full path). */
  #index: SessionIndex | null = null;
  readonly #openNetlink: (() => Promise<NetlinkTransport>) | null;
  /** undefined until first needed; null when netlink is off or could not be opened. */
  #netlink: Promise<NftNetlinkClient | null> | undefined;
  #close: (() => void) | null = null;

  constructor(opts: NftablesBackendOptions = {}) {
    super(opts.log ?? (() => undefined), 'nftables');
    this.table = opts.table ?? 'netsession';
    if (!TABLE_NAME.test(this.table)) throw new Error(`invalid nftables table name ${JSON.stringify(this.table)}`);
    this.#runner = opts.runner ?? createNftRunner(opts.nft);
    this.#resolver = opts.cgroupResolver ?? (() => createCgroupResolver());
    // A custom runner means the kernel is not the real one (tests): no real socket unless asked for.
    const nlOpt = opts.netlink ?? opts.runner === undefined;
    this.#openNetlink =
      nlOpt === false
        ? null
        : nlOpt === true
          ? async () => {
              const { socket } = await openNftNetlink(this.table);
              this.#close = () => socket.close();
              return socket;
            }
          : nlOpt;
  }

  /** The netlink client, opened once; null (logged once) when it cannot be had. */
  #client(): Promise<NftNetlinkClient | null> {
    this.#netlink ??= (async () => {
      if (!this.#openNetlink) return null;
      try {
        return new NftNetlinkClient(await this.#openNetlink(), this.table);
      } catch (err) {
        this.log('warn', `nftables: no netlink socket (${(err as Error).message}); every change goes through nft`);
        return null;
      }
    })();
    return this.#netlink;
  }

  /** Closes the netlink socket (the backend opens it again when needed). */
  close(): void {
    this.#close?.();
    this.#close = null;
    this.#netlink = undefined;
  }

  /** Deletes the table (all marking, classification, SNAT and counters). */
  protected clearKernel(): Promise<void> {
    return this.#deleteTable();
  }

  /**
   * Counters of every session (one dump), or of `sessionKeys` only: over netlink, a GETOBJ per
   * counter in one send (O(1) per session), or one dump of the table's counters; through nft when
   * there is no netlink socket.
   */
  read(sessionKeys?: readonly string[]): Promise<Map<string, Counters>> {
    return this.serial(async () => {
      const client = await this.#client();
      if (client) {
        try {
          const names = sessionKeys && sessionKeys.length <= FEW_SESSIONS ? counterNames(sessionKeys) : null;
          return countersFromNamed(names ? client.getCounters(names) : (client.dumpCounters() ?? []));
        } catch (err) {
          this.log(
            'warn',
            `nftables: reading counters over netlink failed (${(err as Error).message}); reading them through nft`,
          );
        }
      }
      try {
        return parseCounters(
          await this.#runner.run(['-j', 'list', 'counters', 'table', NFT_FAMILY, this.table]),
          this.table,
        );
      } catch (err) {
        if (err instanceof NftError && err.noSuchObject) return new Map<string, Counters>();
        throw err;
      }
    });
  }

  /** Zeroes the counters of these sessions (one netlink send, else one nft call); unknown sessions are ignored. */
  reset(sessionKeys: string[]): Promise<void> {
    return this.serial(async () => {
      const client = await this.#client();
      if (client) {
        try {
          client.getCounters(counterNames(sessionKeys), true);
          return;
        } catch (err) {
          this.log(
            'warn',
            `nftables: resetting counters over netlink failed (${(err as Error).message}); resetting them through nft`,
          );
        }
      }
      const existing = await this.#counterNames();
      const names = sessionKeys.flatMap((k) => [`${TX_PREFIX}${k}`, `${RX_PREFIX}${k}`]).filter((n) => existing.has(n));
      if (!names.length) return;
      // `reset` is not part of a transaction, but several of them still go in one nft call.
      await this.#runner.script(names.map((n) => `reset counter ${NFT_FAMILY} ${this.table} ${n}`).join('\n'));
    });
  }

  /** Names of the table's counters: from the cache, else from one dump. */
  async #counterNames(): Promise<ReadonlySet<string>> {
    if (this.#known !== undefined) return this.#known?.counters ?? new Set();
    let sessions: Map<string, Counters>;
    try {
      sessions = parseCounters(
        await this.#runner.run(['-j', 'list', 'counters', 'table', NFT_FAMILY, this.table]),
        this.table,
      );
    } catch (err) {
      if (err instanceof NftError && err.noSuchObject) return new Set();
      throw err;
    }
    return new Set([...sessions.keys()].flatMap((k) => [`${TX_PREFIX}${k}`, `${RX_PREFIX}${k}`]));
  }

  /**
   * What the kernel holds: null without a process when netlink says the table does not exist
   * (a fresh start); else the table as `nft -j` lists it (adopting what an earlier run left, a verify).
   */
  async #readBack(client: NftNetlinkClient | null): Promise<TableModel | null> {
    if (client) {
      try {
        if (!client.tableExists()) return null;
      } catch (err) {
        this.log(
          'warn',
          `nftables: asking for table ${this.table} over netlink failed (${(err as Error).message}); reading it through nft`,
        );
      }
    }
    try {
      return parseTableListing(await this.#runner.run(['-j', 'list', 'table', NFT_FAMILY, this.table]), this.table);
    } catch (err) {
      if (err instanceof NftError && err.noSuchObject) return null;
      throw err;
    }
  }

  async #deleteTable(): Promise<void> {
    const client = await this.#client();
    try {
      if (client) client.sendAll([deleteTable(this.table)]);
      else await this.#runner.script(`delete table ${NFT_FAMILY} ${this.table}`);
    } catch (err) {
      const absent =
        err instanceof NftNetlinkError ? err.code === 'ENOENT' : err instanceof NftError && err.noSuchObject;
      if (!absent) {
        this.#known = undefined;
        throw err;
      }
    }
    this.#known = null;
    this.#index = null;
  }

  /**
   * The session path: the delta from the indexed state as one netlink batch. Null when it does
   * not apply (then the full path runs); on a failed batch logs one line, forgets the cache and
   * returns 'failed' (the full path then reads the kernel back).
   */
  async #applyDelta(desired: FirewallState, started: number): Promise<ApplyStats | 'failed' | null> {
    const known = this.#known;
    if (!known || !this.#index) return null;
    const client = await this.#client();
    if (!client) return null;
    const delta = planDelta(this.#index, desired, this.table);
    if (!delta) return null;
    const batch = client.encode(delta.commands);
    if (!batch) {
      this.#index = null; // too big for one sendmsg: a bulk change, the full path does it
      return null;
    }
    try {
      client.send(batch, delta.commands);
    } catch (err) {
      this.#known = undefined;
      this.#index = null;
      const what =
        err instanceof NftNetlinkError || err instanceof NetlinkOverrunError
          ? err.message
          : `netlink: ${(err as Error).message}`;
      this.log('warn', `nftables: ${what}; retrying through a full read-back`);
      return 'failed';
    }
    delta.commit(known);
    this.reportWarnings([]);
    return {
      ops: delta.ops,
      commands: delta.commands.length,
      bytes: batch.buf.length,
      readBack: false,
      attempts: 1,
      rebuilt: false,
      ms: performance.now() - started,
      warnings: [],
    };
  }

  /**
   * Runs the full path's ops: over netlink (batches under the socket's limit, no process), or as
   * one nft transaction when there is no socket or the ops name something the encoder does not
   * write (objects found in a read-back that the adapter never creates).
   */
  async #run(
    ops: readonly Op[],
    maps: ReadonlyArray<TableModel['maps']>,
    client: NftNetlinkClient | null,
  ): Promise<{ commands: number; bytes: number }> {
    if (ops.length === 0) return { commands: 0, bytes: 0 };
    if (client) {
      try {
        const commands = opsToNetlink(ops, this.table, maps);
        return { commands: commands.length, bytes: client.sendAll(commands) };
      } catch (err) {
        if (!(err instanceof NetlinkUnsupportedError)) throw err;
        this.log('info', `nftables: ${err.message}; this change goes through nft`);
      }
    }
    const script = opsToScript(ops, this.table);
    await this.#runner.script(script);
    return { commands: script.split('\n').length - 1, bytes: Buffer.byteLength(script) };
  }

  protected async applyOnce(desired: FirewallState, verify: boolean): Promise<ApplyStats> {
    const started = performance.now();
    let firstAttempt = 1;
    if (!verify) {
      const fast = await this.#applyDelta(desired, started);
      if (fast !== null && fast !== 'failed') return fast;
      if (fast === 'failed') firstAttempt = 2;
    }
    this.#index = null;
    let readBack = verify || this.#known === undefined;
    let rebuilt = false;
    for (let attempt = firstAttempt; ; attempt++) {
      const { table: want, warnings } = buildRuleset(desired, { cgroup: this.#resolver() });
      this.reportWarnings(warnings);
      const client = await this.#client();
      const actual = rebuilt ? null : readBack ? await this.#readBack(client) : (this.#known as TableModel | null);
      const ops = diffTable(actual, want);
      let sent: { commands: number; bytes: number };
      try {
        sent = await this.#run(ops, [want.maps, actual?.maps ?? new Map()], client);
      } catch (err) {
        this.#known = undefined;
        if (!readBack) {
          // The cache may be stale (something changed the table): retry from the kernel's view.
          this.log('warn', `nftables: batch failed (${(err as Error).message}); retrying from a read-back`);
          readBack = true;
          continue;
        }
        if (!rebuilt) {
          this.log(
            'error',
            `nftables: batch failed on a fresh read-back (${(err as Error).message}); deleting table ${this.table} and rebuilding it (counters are lost)`,
          );
          await this.#deleteTable();
          rebuilt = true;
          continue;
        }
        throw err;
      }
      this.#known = want;
      // The session path starts from here, unless something was left out (its warnings need the full path).
      this.#index = warnings.length === 0 ? indexState(desired) : null;
      return {
        ops: countChanges(ops),
        commands: sent.commands,
        bytes: sent.bytes,
        readBack,
        attempts: attempt,
        rebuilt,
        ms: performance.now() - started,
        warnings,
      };
    }
  }
}

/** The nftables Firewall + Accounting adapter. */
export function createNftablesBackend(opts: NftablesBackendOptions = {}): NftablesBackend {
  return new NftablesBackend(opts);
}
