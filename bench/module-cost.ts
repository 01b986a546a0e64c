/**
 * What loading each optional part of the daemon costs: a fresh Node process (the daemon's V8
 * flags) imports the part from `dist/` on top of the always-loaded core (runtime, D-Bus
 * adapter, link source, policy directory), collects garbage, and reports VmRSS and RssAnon;
 * the figures are the medians over runs, minus the core alone. Needs `npm run build`.
 * Run alone: `node --import tsx bench/module-cost.ts`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const D = `${ROOT}dist/daemon/`;

/** Always loaded by daemon/main.ts, whatever the configuration. */
const CORE = [
  'runtime/runtime.js',
  'config.js',
  'adapters/dbus/index.js',
  'adapters/rtnetlink/link-source.js',
  'adapters/policy-dir/policy-dir.js',
  'adapters/system/identity.js',
].map((f) => D + f);

/** Loaded only when the configuration uses them (main.ts imports them dynamically). */
export const PARTS: Record<string, string[]> = {
  'nftables backend + routing': [`${D}adapters/nftables/index.js`, `${D}adapters/rtnetlink/routing.js`],
  'iptables backend': [`${D}adapters/iptables/index.js`],
  'DHCP client': [`${D}adapters/dhcp/index.js`],
  'manage mode (link config, sysctls, resolv.conf)': [
    `${D}adapters/rtnetlink/link-config.js`,
    `${D}adapters/system/ipv6-sysctl.js`,
    `${D}adapters/system/resolv-writer.js`,
  ],
  'online check HTTP probe': [`${D}adapters/online-check/http-probe.js`],
  // Never loaded by the daemon: what it would cost if it were.
  'undici (not loaded)': ['undici'],
  'SDK index (not loaded)': [`${ROOT}dist/lib/index.js`],
};

const FLAGS = ['--max-semi-space-size=2', '--expose-gc'];

function measure(mods: string[]): { rss: number; anon: number } {
  const src = `
    for (const m of ${JSON.stringify(mods)}) await import(m);
    globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); globalThis.gc();
    const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
    const f = (k) => Number(new RegExp('^' + k + ':\\\\s+(\\\\d+)', 'm').exec(s)[1]);
    process.stdout.write(JSON.stringify({ rss: f('VmRSS'), anon: f('RssAnon') }));`;
  return JSON.parse(
    execFileSync(process.execPath, [...FLAGS, '--input-type=module', '-e', src], { cwd: ROOT, encoding: 'utf8' }),
  ) as { rss: number; anon: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function medianOf(mods: string[], runs: number): { rss: number; anon: number } {
  const xs = Array.from({ length: runs }, () => measure(mods));
  return { rss: median(xs.map((x) => x.rss)), anon: median(xs.map((x) => x.anon)) };
}

export function runModuleCostBench(runs = 5): Array<Record<string, string | number>> {
  if (!existsSync(`${D}runtime/runtime.js`)) {
    console.log('module cost: skipped: run `npm run build` first (it measures dist/)');
    return [];
  }
  const bare = medianOf([], runs);
  const core = medianOf(CORE, runs);
  const rows: Array<Record<string, string | number>> = [
    { part: 'bare node (no import)', 'VmRSS kB': bare.rss, 'RssAnon kB': bare.anon },
    {
      part: 'core (always loaded), over bare node',
      'VmRSS kB': core.rss - bare.rss,
      'RssAnon kB': core.anon - bare.anon,
    },
  ];
  for (const [part, mods] of Object.entries(PARTS)) {
    const m = medianOf([...CORE, ...mods], runs);
    rows.push({ part: `+ ${part}`, 'VmRSS kB': m.rss - core.rss, 'RssAnon kB': m.anon - core.anon });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(runModuleCostBench());
