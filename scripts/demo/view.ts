/**
 * The demo's output: step lines, checks, the live status block and the summary.
 *
 * On a terminal the status block stays at the bottom and is redrawn in place while lines scroll
 * above it. Otherwise (CI, `--non-interactive`, `CI=true`, output to a file or pipe) everything
 * is plain lines: the block is printed as a snapshot at the end of each step, so a log reads top
 * to bottom without escape codes.
 */

/** A service as the daemon lists it. */
export interface ServiceRow {
  name: string;
  bearer: string | null;
  state: string;
}

/** A session of the demo's app. */
export interface SessionRow {
  id: string;
  state: string;
  interface: string | null;
  bearer: string | null;
  address: string | null;
  counters: { rx: number; tx: number } | null;
}

/** The heartbeat's view of one uplink. */
export interface HeartbeatRow {
  name: string;
  /** null until its first probe. */
  up: boolean | null;
  detail: string;
}

/** What the status block shows. */
export interface Status {
  services: ServiceRow[];
  heartbeat: HeartbeatRow[] | null;
  sessions: SessionRow[];
}

/** One row of the summary. */
export interface StepResult {
  title: string;
  /** null: not run (an earlier step failed, or the demo was interrupted). */
  ok: boolean | null;
  detail: string;
}

/** `1,048,576 B`: exact counts read better in a demo than rounded ones. */
export function formatBytes(n: number): string {
  return `${n.toLocaleString('en-US')} B`;
}

const ESC = '\u001b[';

export class LiveView {
  readonly interactive: boolean;
  #out: NodeJS.WriteStream;
  #block: string[] = [];
  /** Lines of the block currently on screen (interactive only). */
  #shown = 0;

  constructor(interactive: boolean, out: NodeJS.WriteStream = process.stdout) {
    this.interactive = interactive;
    this.#out = out;
  }

  /** A line of the running log (above the block on a terminal). */
  line(text = ''): void {
    if (!this.interactive) {
      this.#out.write(`${text}\n`);
      return;
    }
    this.#erase();
    this.#out.write(`${text}\n`);
    this.#draw();
  }

  ok(text: string): void {
    this.line(`    ${this.#paint('32', '✓')} ${text}`);
  }

  fail(text: string): void {
    this.line(`    ${this.#paint('31', '✗')} ${text}`);
  }

  /** Replaces the status block; redrawn at once on a terminal, shown by {@link snapshot} otherwise. */
  setStatus(status: Status): void {
    this.#block = renderStatus(status);
    if (this.interactive) {
      this.#erase();
      this.#draw();
    }
  }

  /** Plain mode: prints the current block. On a terminal it is already on screen. */
  snapshot(): void {
    if (this.interactive || this.#block.length === 0) return;
    for (const l of this.#block) this.#out.write(`${l}\n`);
  }

  /** Leaves the block where it is and stops redrawing it: later lines go below. */
  release(): void {
    this.#shown = 0;
    this.#block = [];
  }

  summary(results: readonly StepResult[]): void {
    const width = Math.max(...results.map((r) => r.title.length));
    this.line('');
    this.line('summary');
    results.forEach((r, i) => {
      const mark = r.ok === null ? '-' : r.ok ? this.#paint('32', '✓') : this.#paint('31', '✗');
      this.line(`  ${String(i).padStart(2)}  ${r.title.padEnd(width)}  ${mark}  ${r.detail}`);
    });
  }

  #paint(color: string, text: string): string {
    return this.interactive ? `${ESC}${color}m${text}${ESC}0m` : text;
  }

  #erase(): void {
    if (this.#shown === 0) return;
    // Up to the block's first line, then clear everything below.
    this.#out.write(`${ESC}${this.#shown}F${ESC}J`);
    this.#shown = 0;
  }

  #draw(): void {
    // A wrapped line would take two rows and throw off the cursor-up count of the next redraw.
    const width = Math.max(20, (this.#out.columns || 80) - 1);
    for (const l of this.#block)
      this.#out.write(`${ESC}2m${l.length > width ? `${l.slice(0, width - 1)}…` : l}${ESC}0m\n`);
    this.#shown = this.#block.length;
  }
}

function renderStatus(s: Status): string[] {
  const lines = ['  ┌ live view'];
  lines.push(
    `  │ services   ${s.services.map((x) => `${x.name} (${x.bearer ?? '?'}) ${x.state}`).join('   ') || '(none)'}`,
  );
  if (s.heartbeat) {
    lines.push(
      `  │ heartbeat  ${s.heartbeat.map((h) => `${h.name} ${h.up === null ? '…' : h.up ? 'up' : 'DOWN'} ${h.detail}`.trimEnd()).join('   ')}`,
    );
  }
  if (s.sessions.length === 0) lines.push('  │ sessions   (none)');
  s.sessions.forEach((x, i) => {
    const where = x.interface ? `${x.interface} (${x.bearer})` : '-';
    const bytes = x.counters ? `rx ${formatBytes(x.counters.rx)}  tx ${formatBytes(x.counters.tx)}` : 'no counters';
    lines.push(
      `  │ ${i === 0 ? 'sessions ' : '         '}  ${x.id.padEnd(9)} ${x.state.padEnd(12)} ${where.padEnd(18)} ${bytes}`,
    );
  });
  lines.push('  └');
  return lines;
}
