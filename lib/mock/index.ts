/**
 * The public test double: a scripted session daemon behind the {@link Transport} seam.
 *
 * @packageDocumentation
 */

export { MockSession } from './mock-session.js';
export { type MockCall, type MockMethod, MockTransport, type MockTransportOptions } from './mock-transport.js';
export type { MockUplink } from './uplink.js';
