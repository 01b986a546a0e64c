/**
 * `npm run build`'s last step: writes the man pages (scripts/man/pages.ts) to dist/man/, from
 * where package.json's `man` field installs them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { manPages } from './pages.js';

const out = join(import.meta.dirname, '../../dist/man');
mkdirSync(out, { recursive: true });
for (const page of manPages()) writeFileSync(join(out, page.file), `${page.roff}\n`);
console.log(
  `man pages: ${manPages()
    .map((p) => `${p.name}(${p.section})`)
    .join(', ')} -> dist/man/`,
);
