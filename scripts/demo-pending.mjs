#!/usr/bin/env node
// Placeholder until the demo lands: say so plainly instead of pretending.
console.error('netsession: the demo sandbox is not built yet (the daemon and SDK are in progress).');
console.error('What runs today: `npm test` (core unit tests, type tests, netns integration tests) and `npm run bench`.');
process.exit(1);
