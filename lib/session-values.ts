/**
 * A session's current values by name (`state`, `interface`, `bearer`, `ipv4`, `ipv6`), each read
 * from its `settings`: the layer between the bind helpers ({@link BoundSession}) and
 * {@link Session}, which keeps `settings` current.
 */
import { BoundSession } from './bind/bound-session.js';
import type { Bearer, SessionState } from './protocol.js';
import type { IPv4Info, IPv6Info } from './settings.js';

/** See the file comment. */
export abstract class SessionValues extends BoundSession {
  /** `disconnected`, `connected` or `online`. */
  get state(): SessionState {
    return this.settings.state;
  }

  /** Interface name of the uplink the session is bound to, or `null`. */
  get interface(): string | null {
    return this.settings.interface;
  }

  /** Bearer of that uplink, or `null`. */
  get bearer(): Bearer | null {
    return this.settings.bearer;
  }

  /** IPv4 configuration of that uplink (`ipv4?.address` is the address to bind to), or `null`. */
  get ipv4(): IPv4Info | null {
    return this.settings.ipv4;
  }

  /** IPv6 configuration of that uplink, or `null`. */
  get ipv6(): IPv6Info | null {
    return this.settings.ipv6;
  }
}
