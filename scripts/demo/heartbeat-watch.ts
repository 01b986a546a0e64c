/**
 * Runs examples/heartbeat.ts in the sandbox's device namespace and reads what it prints: one
 * result line per probe (`eth-a    ethernet  ok   0.6 ms   loss 0%`) and `UP <if> (from <addr>)`
 * / `DOWN <if>: <why>` when an uplink's reachability changes.
 */
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/integration/harness/daemon.js';
import { waitFor } from '../../test/integration/harness/exec.js';
import type { Sandbox, SandboxProcess } from '../../test/integration/harness/sandbox.js';
import type { HeartbeatRow } from './view.js';

const RESULT = /^(\S+)\s+\S+\s+(ok|FAIL)\s+(.*?)\s+loss (\d+)%$/;
const TRANSITION = /^(UP|DOWN) ([^ :]+)/;

export class HeartbeatWatch {
  readonly proc: SandboxProcess;
  /** Every UP/DOWN line so far, in order. */
  readonly transitions: Array<{ up: boolean; name: string; line: string }> = [];
  #rows = new Map<string, HeartbeatRow>();

  /** Starts the example probing `target` every `intervalMs`; `onTransition` sees each UP/DOWN line. */
  constructor(sb: Sandbox, target: string, intervalMs: number, onTransition: (line: string) => void) {
    this.proc = sb.spawn(
      sb.devNs,
      [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'examples', 'heartbeat.ts'), target, String(intervalMs)],
      { cwd: REPO_ROOT },
    );
    this.proc.onLine((line, stream) => {
      if (stream !== 'stdout') return;
      const t = TRANSITION.exec(line);
      if (t) {
        this.transitions.push({ up: t[1] === 'UP', name: t[2]!, line });
        onTransition(line);
        return;
      }
      const r = RESULT.exec(line);
      if (r)
        this.#rows.set(r[1]!, {
          name: r[1]!,
          up: r[2] === 'ok',
          detail: r[2] === 'ok' ? `${r[3]}, loss ${r[4]}%` : `loss ${r[4]}%`,
        });
    });
  }

  /** The latest probe result per uplink, in name order. */
  get rows(): HeartbeatRow[] {
    return [...this.#rows.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The last transition of `name` at index ≥ `from`: true for UP, false for DOWN, null for none. */
  last(name: string, from = 0): boolean | null {
    const t = this.transitions
      .slice(from)
      .filter((x) => x.name === name)
      .at(-1);
    return t ? t.up : null;
  }

  /** Waits until the last transition at index ≥ `from` of every name in `names` is `up`. */
  async waitAll(names: readonly string[], up: boolean, from: number, timeoutMs: number): Promise<void> {
    await waitFor(
      `heartbeat ${up ? 'UP' : 'DOWN'} for ${names.join(', ')}`,
      () => names.every((n) => this.last(n, from) === up) || undefined,
      { timeoutMs, intervalMs: 50 },
    );
  }
}
