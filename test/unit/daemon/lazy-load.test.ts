/**
 * The daemon loads only what its configuration runs: the parts daemon/main.ts imports
 * dynamically must not be reachable through static imports (one stray `import` would load them
 * for every configuration). The daemon's entry is run with `--help` (it returns before choosing
 * any adapter) under a loader hook that lists every module loaded.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HOOK = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent("export async function load(u, c, n) { process.stderr.write('MOD ' + u + '\\\\n'); return n(u, c); }"));`,
)}`;

describe('lazy loading', () => {
  it('the static module graph of daemon/main.ts holds no optional adapter, undici or SDK socket helper', () => {
    const r = spawnSync(process.execPath, ['--import', HOOK, '--import', 'tsx', `${ROOT}daemon/main.ts`, '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const out = r.stderr;
    const mods = out
      .split('\n')
      .filter((l) => l.startsWith('MOD file://'))
      .map((l) => l.slice(4).replace(`file://${ROOT}`, ''));
    expect(mods).toContain('daemon/runtime/runtime.ts');
    const optional = [
      /^daemon\/adapters\/(iptables|nftables\/(index|backend)|dhcp)\//,
      /rtnetlink\/(routing|link-config)/,
      /system\/(ipv6-sysctl|resolv-writer)/,
      /online-check\//,
      /undici/,
      /^lib\/(bind|index|session|create-session)/,
    ];
    expect(mods.filter((m) => optional.some((re) => re.test(m)))).toEqual([]);
  });
});
