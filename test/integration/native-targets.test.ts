/**
 * The daemon's one native addon, koffi, on the six device targets (scripts/native-targets.mjs,
 * docs/architecture.md "Packages"): linux x64, arm64 and armv7, glibc and musl.
 *
 * | target         | checked here                                                                     |
 * |----------------|----------------------------------------------------------------------------------|
 * | x64 glibc      | prebuild exists; ELF and NEEDED; Node dlopens it, loads libc, getpid() matches    |
 * | arm64/armv7 glibc | the same under qemu-user with Debian's nodejs and libc (sysroot from `--prepare`) |
 * | x64/arm64 musl | prebuild exists; NEEDED only musl's libc (and the C++ runtime Node needs), no GLIBC_ versions; musl's loader finds every C symbol |
 * | armv7 musl     | ours (koffi 3.3.4 ships none; scripts/build-koffi-musl-armhf.mjs, Zig): ARM hard-float, NEEDED only musl's libc; musl's armhf loader under qemu-arm finds every C symbol; a musl program dlopens it (RTLD_NOW) and finds its Node-API entry; the same recipe built for glibc calls getpid, strtod and qsort with a JS callback in Debian's armhf Node |
 *
 * The prebuilds of other arches come from the npm registry (`npm pack`, cached under
 * node_modules/.cache), ours and its glibc twin from the cached builds (~1.5 minutes when the cache is cold). A
 * check that cannot run here (no qemu-user, no sysroot) prints why.
 */
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { checkTargets } from '../../scripts/native-targets.mjs';

interface Row {
  target: string;
  check: string;
  ok?: boolean;
  skip?: string;
  detail?: string;
}

describe('koffi prebuilds for the device targets', () => {
  let rows: Row[];
  const get = (target: string, check: string) => rows.find((r) => r.target === target && r.check === check);

  beforeAll(() => {
    rows = (checkTargets as () => Row[])();
  }, 300_000);

  it('every check that can run here passes; every target has its prebuild', () => {
    for (const r of rows)
      console.log(`${r.skip ? 'SKIP' : r.ok ? 'ok  ' : 'FAIL'} ${r.target} ${r.check}: ${r.skip ?? r.detail}`);
    const failed = rows.filter((r) => !r.skip && !r.ok).map((r) => `${r.target} ${r.check}`);
    expect(failed, JSON.stringify(rows, null, 1)).toEqual([]);
    for (const t of ['x64-glibc', 'x64-musl', 'arm64-glibc', 'arm64-musl', 'armv7-glibc', 'armv7-musl']) {
      expect(get(`linux-${t}`, 'exists')?.ok, t).toBe(true);
      expect(get(`linux-${t}`, 'elf')?.ok, t).toBe(true);
    }
  });

  it("armv7 musl: our recipe's glibc twin runs koffi's ARM call and callback paths in a real armhf Node (or says why not)", () => {
    const twin = get('linux-armv7-musl', 'twin');
    if (twin?.skip) console.log(`twin check skipped: ${twin.skip}`);
    else
      expect(twin?.detail).toMatch(
        /getpid matches, strtod\("2\.75"\) = 2\.75, qsort through a JS comparator = \[1,3,5,9\]$/,
      );
  });

  it('armv7 musl is our build, linked against musl alone (libc++ static); koffi has none', () => {
    expect(get('linux-armv7-musl', 'exists')?.detail).toMatch(
      /^ours \(koffi [\d.]+ has none\): node_modules\/\.cache\/netsession-native\/.*\/musl_armhf\/koffi\.node$/,
    );
    expect(get('linux-armv7-musl', 'elf')?.detail).toMatch(/^NEEDED (libc\.so|libc\.musl-armhf\.so\.1)$/);
  });

  it('the x64 glibc build loads natively and calls into libc (this check never skips)', () => {
    expect(get('linux-x64-glibc', 'loads')).toMatchObject({ ok: true });
    expect(get('linux-x64-glibc', 'loads')?.detail).toMatch(/getpid\(\) through libc matches/);
  });
});
