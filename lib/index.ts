/**
 * netsession: per-application network sessions for Linux.
 *
 * The SDK entry point. Today it exports the D-Bus contract shared with netsessiond
 * (ConnMan's `net.connman` names, settings keys and their types) and the error classes;
 * `createSession` and the bind helpers arrive with the SDK.
 *
 * @packageDocumentation
 */
export * from './protocol.js';
export * from './errors.js';
