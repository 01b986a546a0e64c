import { createSession } from 'netsession';

const s = await createSession({ allowedBearers: ['cellular'], connectionType: 'internet', sourceIPRule: true });
await s.waitFor('online', { timeout: 10_000 });
console.log(`on ${s.interface} (${s.bearer}), ${s.ipv4?.address}`);

// Sockets, agents and fetch bound to the session's uplink (sourceIPRule makes the kernel agree):
const res = await s.fetch('https://example.org/telemetry', { method: 'POST', body: '…' });
console.log(res.status);
s.on('interface', (ifname) => console.log('moved to', ifname)); // failover to another uplink
s.on('offline', () => console.log('lost the internet'));

await s.destroy();
