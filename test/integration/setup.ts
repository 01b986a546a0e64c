/**
 * Global setup of the integration project: builds the daemon bundle (dist/netsessiond.js) from
 * the current sources, so every test runs the daemon the way it ships (esbuild takes well under
 * a second; the rest of `npm run build` is not needed by the tests).
 */
// @ts-expect-error: a plain .mjs build script without type declarations
import { bundleDaemon } from '../../scripts/bundle-daemon.mjs';

export default async function setup(): Promise<void> {
  await (bundleDaemon as () => Promise<unknown>)();
}
