/**
 * How the adapter describes a D-Bus interface: plain tables of methods and signals. One table
 * serves dispatch and introspection, so what `Introspect` says is exactly what is answered.
 */
import type { BusCaller } from '../../api.js';

/** One incoming method call, as a handler sees it. */
export interface MethodCall {
  /** Unique name of the caller, read from the message. */
  readonly sender: string;
  readonly path: string;
  readonly args: readonly unknown[];
  /**
   * Runs `fn` with the caller's credentials. Synchronous when they are cached (the client made
   * an earlier call), so a hot call never waits for the bus.
   */
  withCaller<T>(fn: (caller: BusCaller) => T): T | Promise<Awaited<T>>;
  /** Runs `fn` right after the reply (or error) to this call is written. */
  afterReply(fn: () => void): void;
}

/** A method: signatures, argument names for introspection, and its handler. */
export interface MethodSpec {
  readonly in: string;
  readonly out: string;
  readonly inNames?: readonly string[];
  readonly outNames?: readonly string[];
  /** Returns the reply body (matching `out`); may throw (or reject) a DaemonError. */
  handle(call: MethodCall): readonly unknown[] | Promise<readonly unknown[]>;
}

/** A signal, for introspection. */
export interface SignalSpec {
  readonly signature: string;
  readonly names?: readonly string[];
}

/** One D-Bus interface. */
export interface InterfaceSpec {
  readonly name: string;
  readonly methods: Readonly<Record<string, MethodSpec>>;
  readonly signals?: Readonly<Record<string, SignalSpec>>;
}

/** A reply body with nothing in it. */
export const EMPTY: readonly unknown[] = Object.freeze([]);

/** A method that always fails with `error` (for ConnMan methods netsessiond does not implement). */
export function unsupported(
  inSig: string,
  outSig: string,
  error: () => Error,
  inNames?: readonly string[],
): MethodSpec {
  return {
    in: inSig,
    out: outSig,
    ...(inNames ? { inNames } : {}),
    handle() {
      throw error();
    },
  };
}
