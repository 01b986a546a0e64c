/**
 * Which mappings the page drop may touch: only read-only, file-backed ones with resident pages
 * and not one anonymous (copied-on-write) page — and the drop, run on this very process, leaves
 * it working.
 */
import { describe, expect, it } from 'vitest';
import { createPageDropper, droppableRanges } from '../../../../../daemon/adapters/system/mapped-pages.js';
import { residentOf } from '../../../../../daemon/adapters/system/memory-return.js';

/** One smaps entry: its header and the fields the parser reads. */
const entry = (range: string, perms: string, path: string, rss: number, anon: number) =>
  [
    `${range} ${perms} 00000000 08:01 1234                       ${path}`.trimEnd(),
    `Size:               1024 kB`,
    `Rss:                 ${rss} kB`,
    `Pss:                 ${rss} kB`,
    `Anonymous:           ${anon} kB`,
    `VmFlags: rd mr mw me`,
  ].join('\n');

describe('droppableRanges', () => {
  it('keeps read-only file mappings with resident pages and no anonymous page', () => {
    const smaps = [
      entry('400000-600000', 'r--p', '/usr/bin/node', 512, 0), // kept
      entry('600000-800000', 'r-xp', '/usr/bin/node', 1024, 0), // kept (text)
      entry('800000-810000', 'r--p', '/usr/bin/node', 64, 12), // RELRO: relocated pages
      entry('810000-820000', 'rw-p', '/usr/bin/node', 64, 64), // data
      entry('820000-830000', 'r--p', '/usr/lib/libc.so.6', 0, 0), // nothing resident
      entry('830000-840000', 'rw-p', '[heap]', 64, 64),
      entry('7ffd0000-7ffd2000', 'r-xp', '[vdso]', 8, 0), // not a file
      entry('900000-a00000', 'r--s', '/dev/shm/x', 16, 0), // shared, read-only: kept
    ].join('\n');
    expect(droppableRanges(smaps)).toEqual([0x400000, 0x200000, 0x600000, 0x200000, 0x900000, 0x100000]);
  });

  it('reads an empty or truncated text without throwing', () => {
    expect(droppableRanges('')).toEqual([]);
    expect(droppableRanges('400000-600000 r--p 00000000 08:01 1 /usr/bin/node')).toEqual([]);
  });
});

describe('createPageDropper', () => {
  it('drops this process’s clean file pages and the process keeps running', async () => {
    const drop = await createPageDropper();
    const before = residentOf().file;
    const bytes = drop();
    // koffi is a dependency and Linux has madvise: something was advised.
    expect(bytes).toBeGreaterThan(0);
    expect(residentOf().file).toBeLessThan(before);
    // Node's code faults back in as it runs.
    expect(JSON.parse(JSON.stringify({ ok: [1, 2, 3] }))).toEqual({ ok: [1, 2, 3] });
  });
});
