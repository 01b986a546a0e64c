/**
 * The public test double: a scripted session daemon behind the {@link Transport} seam.
 *
 * @packageDocumentation
 */
export { MockTransport, type MockCall, type MockMethod, type MockTransportOptions } from './mock-transport.js';
export { MockSession } from './mock-session.js';
export type { MockUplink } from './uplink.js';
