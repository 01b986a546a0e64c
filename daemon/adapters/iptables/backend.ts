/**
 * The legacy datapath (`--firewall iptables`): {@link Firewall} (classification, marking, SNAT)
 * and {@link Accounting} (per-session counters) with iptables chains the daemon owns in the
 * mangle, filter (counting) and nat tables of both families, and NFACCT objects for the counters.
 * Same behaviour as the nftables backend (see ruleset.ts for the rules, and for where the costs
 * differ and why counting sits in filter).
 *
 * Reconciliation, as in ../nftables/backend.ts: every apply computes the desired chains
 * (ruleset.ts), diffs them against what the kernel holds (diff.ts) and runs the difference:
 * missing NFACCT objects first (over netlink, nfacct.ts), then one `iptables-restore --noflush`
 * per family that has changes (atomic per table), then stale NFACCT objects are deleted. "What
 * the kernel holds" is what this adapter last wrote, kept in memory; the kernel is read back
 * (`iptables-save`, `ip6tables-save`, and an NFACCT dump like `nfacct list`) instead:
 * - on the first apply (adopting, or removing, whatever a crashed run left),
 * - when asked: `apply(state, { verify: true })` or {@link IptablesBackend.verify},
 * - after a failed batch (the cache may be wrong), which is then retried once from the read-back.
 * If a restore still fails on a fresh read-back, every chain and hook of ours is removed and the
 * state built from scratch (NFACCT objects, hence counts, are kept); if even that fails, or NFACCT
 * objects cannot be created, apply rejects.
 * Changes made from outside are therefore undone at the next verifying apply, not before.
 * The two families are separate restores: a failure between them leaves the first applied,
 * which the retry's read-back sees.
 *
 * Calls are serialised: an apply never interleaves with another apply, a clear, a read or a reset.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { FirewallState } from '../../core/kernel-state-types.js';
import type { Family } from '../../core/services.js';
import type { Counters } from '../../core/statistics-schedule.js';
import type { Accounting, Logger } from '../../ports.js';
import { type ApplyStats, FirewallBackendBase } from '../firewall/backend-base.js';
import type { CgroupRef } from '../firewall/cgroup.js';
import { createCgroupResolver } from '../firewall/cgroup.js';
import { isOurNfacct, sessionCounters } from './counters.js';
import { diffFamily, diffNfacct, opsToRestore } from './diff.js';
import type { DatapathModel, Op } from './model.js';
import { emptyDatapath, emptyFamilyModel } from './model.js';
import type { NfacctClient, NfacctClientOptions } from './nfacct.js';
import { createNfacctClient } from './nfacct.js';
import { parseSave } from './readback.js';
import { buildRuleset, nfacctNames } from './ruleset.js';
import type { IptablesRunner, IptablesRunnerOptions } from './tools.js';
import { createIptablesRunner } from './tools.js';

/** Options of {@link createIptablesBackend}. */
export interface IptablesBackendOptions {
  /** How the tools are run (default: the real binaries, see tools.ts). */
  runner?: IptablesRunner;
  /** Options of the default runner. */
  tools?: IptablesRunnerOptions;
  /** How NFACCT objects are handled (default: over netlink, see nfacct.ts). */
  nfacct?: NfacctClient;
  /** Options of the default NFACCT client. */
  nfacctOptions?: NfacctClientOptions;
  /** Families to manage (default: 4, and 6 when the kernel has IPv6). */
  families?: Family[];
  /** Makes a cgroup resolver for one apply (default: from this process's mounts). */
  cgroupResolver?: () => (path: string) => CgroupRef | null;
  log?: Logger;
}

export type { ApplyOptions, ApplyStats } from '../firewall/backend-base.js';

/** iptables + NFACCT implementation of the Firewall and Accounting ports. */
export class IptablesBackend extends FirewallBackendBase implements Accounting {
  readonly #runner: IptablesRunner;
  readonly #nfacct: NfacctClient;
  readonly #resolver: () => (path: string) => CgroupRef | null;
  readonly #families: readonly Family[];
  /** What the kernel holds as last written or read; undefined = unknown. */
  #known: DatapathModel | undefined = undefined;

  constructor(opts: IptablesBackendOptions = {}) {
    super(opts.log ?? (() => undefined), 'iptables');
    this.#runner = opts.runner ?? createIptablesRunner(opts.tools);
    this.#nfacct = opts.nfacct ?? createNfacctClient(opts.nfacctOptions);
    this.#resolver = opts.cgroupResolver ?? (() => createCgroupResolver());
    this.#families = opts.families ?? (existsSync('/proc/sys/net/ipv6') ? [4, 6] : [4]);
    this.log(
      'info',
      `iptables: using ${this.#runner.description}, NFACCT over netlink${this.#families.includes(6) ? '' : ' (IPv4 only: no IPv6 in this kernel)'}`,
    );
  }

  /** Removes every chain, hook and NFACCT object of ours (read back first: nothing is missed). */
  protected async clearKernel(): Promise<void> {
    this.#known = undefined;
    const actual = await this.#readBack();
    for (const family of this.#families) {
      const ops = diffFamily(actual.families[family], emptyFamilyModel());
      if (ops.length) await this.#runner.restore(family, opsToRestore(ops));
    }
    await this.#deleteNfacct([...actual.nfacct]);
    this.#known = emptyDatapath();
  }

  /** Counters of every session, from one NFACCT dump. */
  read(): Promise<Map<string, Counters>> {
    return this.serial(async () => sessionCounters(await this.#nfacct.list()));
  }

  /**
   * Zeroes the counters of these sessions, object by object (what `nfacct get NAME reset` does;
   * `nfacct list reset` would zero everybody's); unknown sessions are ignored.
   */
  reset(sessionKeys: string[]): Promise<void> {
    return this.serial(async () => {
      const names = sessionKeys.flatMap((k) => {
        const n = nfacctNames(k);
        return [n.tx, n.rx];
      });
      await this.#nfacct.reset(names);
    });
  }

  async #readBack(): Promise<DatapathModel> {
    const model = emptyDatapath();
    for (const family of this.#families) model.families[family] = parseSave(await this.#runner.save(family));
    model.nfacct = new Set([...(await this.#nfacct.list()).keys()].filter(isOurNfacct));
    return model;
  }

  /** Deletes NFACCT objects; returns the names that could not be deleted (still referenced elsewhere). */
  async #deleteNfacct(names: readonly string[]): Promise<string[]> {
    const failures = await this.#nfacct.delete(names);
    for (const f of failures) {
      this.log(
        'warn',
        `iptables: cannot delete NFACCT object ${f.name} (${f.code}); a rule outside the daemon's chains may still name it`,
      );
    }
    return failures.map((f) => f.name);
  }

  /** Removes every chain and hook of ours in both families (the last resort before giving up). */
  async #removeRules(): Promise<void> {
    for (const family of this.#families) {
      const ops = diffFamily(parseSave(await this.#runner.save(family)), emptyFamilyModel());
      if (ops.length) await this.#runner.restore(family, opsToRestore(ops));
    }
  }

  protected async applyOnce(desired: FirewallState, verify: boolean): Promise<ApplyStats> {
    const started = performance.now();
    let readBack = verify || this.#known === undefined;
    let rebuilt = false;
    for (let attempt = 1; ; attempt++) {
      const { model: want, warnings } = buildRuleset(desired, { cgroup: this.#resolver() });
      for (const f of [4, 6] as const) if (!this.#families.includes(f)) want.families[f] = emptyFamilyModel();
      this.reportWarnings(warnings);
      const actual = readBack ? await this.#readBack() : (this.#known as DatapathModel);
      const nf = diffNfacct(actual.nfacct, want.nfacct);
      const scripts: Array<{ family: Family; ops: Op[]; text: string }> = [];
      for (const family of this.#families) {
        const ops = diffFamily(actual.families[family], want.families[family]);
        if (ops.length) scripts.push({ family, ops, text: opsToRestore(ops) });
      }
      let left: string[] = [];
      let restoring = false;
      try {
        await this.#nfacct.create(nf.add);
        restoring = true;
        for (const s of scripts) await this.#runner.restore(s.family, s.text);
        restoring = false;
        left = await this.#deleteNfacct(nf.del);
      } catch (err) {
        this.#known = undefined;
        if (!readBack) {
          this.log('warn', `iptables: batch failed (${(err as Error).message}); retrying from a read-back`);
          readBack = true;
          continue;
        }
        // Removing our rules cannot help NFACCT objects that cannot be created.
        if (!rebuilt && restoring) {
          this.log(
            'error',
            `iptables: batch failed on a fresh read-back (${(err as Error).message}); removing every chain of ours and building them again`,
          );
          await this.#removeRules();
          rebuilt = true;
          continue;
        }
        throw err;
      }
      // Objects that could not be deleted are left out of the cache: the next verifying apply
      // tries again, plain applies do not (they would only log the same warning each time).
      this.#known = want;
      return {
        ops: scripts.reduce((n, s) => n + s.ops.length, 0) + nf.add.length + nf.del.length - left.length,
        commands: scripts.length + (nf.add.length ? 1 : 0) + (nf.del.length ? 1 : 0),
        bytes: scripts.reduce((n, s) => n + Buffer.byteLength(s.text), 0),
        readBack,
        attempts: attempt,
        rebuilt,
        ms: performance.now() - started,
        warnings,
      };
    }
  }
}

/** The iptables + NFACCT Firewall and Accounting adapter. */
export function createIptablesBackend(opts: IptablesBackendOptions = {}): IptablesBackend {
  return new IptablesBackend(opts);
}
