/** A session's full settings as an Update reports them (an online ethernet uplink), for tests of Update building. */
import type { SessionSettings } from '../../lib/protocol.js';

export function sessionSettings(over: Partial<SessionSettings> = {}): SessionSettings {
  return {
    State: 'connected',
    Name: 'eth0',
    IPv4: { Method: 'dhcp', Address: '198.51.100.2', Netmask: '255.255.255.0' },
    IPv6: {},
    Interface: 'eth0',
    Bearer: 'ethernet',
    ConnectionType: 'any',
    AllowedBearers: ['ethernet', 'wifi'],
    AllowedInterface: '*',
    ContextIdentifier: '',
    SourceIPRule: false,
    ...over,
  };
}
