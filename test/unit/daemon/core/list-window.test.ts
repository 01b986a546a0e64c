import { describe, expect, it } from 'vitest';
import { diffWindow } from '../../../../daemon/core/list-window.js';

describe('diffWindow', () => {
  const [a, b, c, d, e] = [{}, {}, {}, {}, {}];
  it('is empty for the same list, and spans only what differs between shared ends', () => {
    const l = [a, b, c];
    expect(diffWindow(l, l)).toEqual({ lo: 0, hiPrev: 0, hiNext: 0 });
    expect(diffWindow([a, b, c], [a, d, c])).toEqual({ lo: 1, hiPrev: 2, hiNext: 2 }); // one replaced
    expect(diffWindow([a, b, c], [a, b, c, d])).toEqual({ lo: 3, hiPrev: 3, hiNext: 4 }); // one appended
    expect(diffWindow([a, b, c, d], [a, d])).toEqual({ lo: 1, hiPrev: 3, hiNext: 1 }); // two removed
    expect(diffWindow([a, b], [e, a, b])).toEqual({ lo: 0, hiPrev: 0, hiNext: 1 }); // one prepended
    expect(diffWindow([a, a], [a])).toEqual({ lo: 1, hiPrev: 2, hiNext: 1 }); // the ends never overlap
  });
});
