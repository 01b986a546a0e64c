/**
 * `npm run bench`: prints every benchmark's figures. Figures, not pass/fail: targets are
 * printed beside the numbers so a reader can compare.
 */

import { runCallPathBench } from './call-path.js';
import { runCarrierBackBench } from './carrier-back.js';
import { runCoreBench } from './core-link-event.js';
import { runDaemonBench } from './daemon-latency.js';
import { runDatapathBench } from './datapath.js';
import { runFootprintBench } from './footprint.js';
import { runManageBench } from './manage.js';
import { runModuleCostBench } from './module-cost.js';
import { runSdkBench } from './sdk.js';
import { runSourceIpRuleBench } from './source-ip-rule.js';

console.log('# core: one link event with N live sessions (target: < 5 ms at 10,000, linear or better)');
console.table(runCoreBench());

// Needs root and `ip netns` (it builds a sandbox of namespaces); prints why when it cannot run.
console.log(
  '\n# daemon: netsessiond in a sandbox of network namespaces, beside connmand 1.41 on this machine (a few minutes)',
);
await runDaemonBench();

// Needs root and `ip netns` (connmand 1.41 for its column); prints why when it cannot run.
console.log(
  '\n# footprint: the shipped daemon bundle beside connmand and bare node — memory idle, with 1,000/10,000 sessions, after destroying them, after 10,000 create/destroy cycles; exec → READY=1 (a few minutes)',
);
await runFootprintBench();

console.log(
  '\n# module cost: what each optional part of the daemon adds when loaded (it is loaded only when the configuration uses it)',
);
console.table(runModuleCostBench());

// Needs root, `ip netns` and connmand 1.41 (without it, no ratios); prints why when it cannot run.
console.log(
  "\n# call path: the D-Bus round trips and carrier loss beside connmand as ratios, and the daemon's CPU profile (a few minutes)",
);
await runCallPathBench();

// Needs root, `ip netns` and connmand; prints why when it cannot run.
console.log('\n# SourceIPRule sessions: netsessiond / connmand 1.41, both run here (a few minutes)');
await runSourceIpRuleBench();

// Needs root and `ip netns` too; prints why when it cannot run.
console.log('\n# SDK: createSession latency through the SDK, and session.fetch vs plain fetch, in a sandbox');
await runSdkBench();

// Needs root and `ip netns` too; prints why when it cannot run.
console.log(
  '\n# datapath: kernel rules and marking through the daemon — ip rules vs sessions; apply from empty, move one, create one more, statistics of one at 1,000 and 10,000 sessions; per-packet cost (a few minutes)',
);
await runDatapathBench();

// Needs root and `ip netns` too; prints why when it cannot run.
console.log(
  '\n# manage mode: the main table following the ranking when the default uplink loses and regains its carrier (kernel timestamps)',
);
await runManageBench();

// Needs root, `ip netns`, dnsmasq and (for the comparison) connmand; prints why when it cannot run.
console.log(
  "\n# manage mode with DHCP: pinned uplink's carrier back → session connected, beside connmand 1.41 (ratio target ≤ 0.5)",
);
await runCarrierBackBench();
