/**
 * The daemon needs no libuv pool thread of its own: its netlink event sockets and DHCP packet
 * sockets are watched on Node's main loop (daemon/adapters/netlink/uv-poll.ts). With the event
 * sockets' poll() on a pool thread, as before, `UV_THREADPOOL_SIZE=1` hung the start: that poll
 * held the only thread, and the file reads of the start-up waited behind it forever.
 *
 * | input                                         | expected                                              |
 * |-----------------------------------------------|-------------------------------------------------------|
 * | netsessiond started with UV_THREADPOOL_SIZE=1 | ready, its services listed                             |
 * | then eth-a's carrier lost at the router       | eth-a's service leaves `online`/`ready` (a link event) |
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, requireRoot, type Sandbox } from './harness/sandbox.js';
import { startTestDaemon } from './harness/test-daemon.js';
import { ConnmanClient } from './support/connman-client.js';

const supported = requireRoot();
let sb: Sandbox;
let client: ConnmanClient;

describe.skipIf(!supported)('one libuv pool thread', () => {
  beforeAll(async () => {
    sb = await createSandbox();
    await startTestDaemon(sb, {
      general: ['OnlineCheckMode = none'],
      env: { UV_THREADPOOL_SIZE: '1' },
      readyTimeoutMs: 15_000,
    });
    client = await ConnmanClient.connect(sb.dbusAddress!);
  }, 60_000);

  afterAll(async () => {
    client?.disconnect();
    await sb?.destroy();
  });

  it('starts and follows link events with UV_THREADPOOL_SIZE=1', async () => {
    const stateOf = async (ifname: string) => {
      const s = (await client.services()).find((x) => x.props.Name === ifname);
      return s?.props.State;
    };
    expect(await stateOf('eth-a')).toMatch(/^(ready|online)$/);
    await sb.setCarrier('eth-a', false);
    const deadline = Date.now() + 5_000;
    let state = await stateOf('eth-a');
    while ((state === 'ready' || state === 'online') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      state = await stateOf('eth-a');
    }
    expect(state === 'ready' || state === 'online').toBe(false);
  });
});
