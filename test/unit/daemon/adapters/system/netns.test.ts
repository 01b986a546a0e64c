import { readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inRootNetns } from '../../../../../daemon/adapters/system/netns.js';

describe('inRootNetns', () => {
  it("says true for the namespace the test runner runs in (the machine's own)", () => {
    // Unit tests run in the root namespace; if this ever runs elsewhere, say why it was not checked.
    const self = readlinkSync('/proc/self/ns/net');
    if (process.env.NETSESSION_TEST_NETNS) {
      console.log(`skipped: NETSESSION_TEST_NETNS is set, the runner is not in the root namespace (${self})`);
      return;
    }
    expect(inRootNetns()).toBe(true);
  });
});
