/**
 * PolicySource over a directory of `*.policy` files: all files at start, then each change as
 * it happens (fs.watch on the directory). Editors that write a temp file and rename it show up
 * as a rename of the final name, which is read like any change. The engine keeps a file's
 * previous version when the new one is malformed, so reading a half-written file is harmless:
 * the next event brings the complete one.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPolicyFileName } from '../../core/policy.js';
import type { Logger, PolicySource } from '../../ports.js';

export function createPolicyDir(dir: string, log: Logger): PolicySource {
  let watcher: FSWatcher | null = null;
  const known = new Map<string, string>();

  async function readOne(file: string, onFile: (file: string, text: string | null) => void): Promise<void> {
    let text: string | null;
    try {
      text = await readFile(join(dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('warn', `policy ${file}: ${(err as Error).message}`);
      text = null;
    }
    // fs.watch fires several events per write; only real content changes reach the engine.
    if (text === null ? !known.has(file) : known.get(file) === text) return;
    if (text === null) known.delete(file);
    else known.set(file, text);
    onFile(file, text);
  }

  return {
    async start(onFile) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name && isPolicyFileName(name)) void readOne(name, onFile);
      });
      for (const f of (await readdir(dir)).filter(isPolicyFileName).sort()) await readOne(f, onFile);
    },
    async stop() {
      watcher?.close();
      watcher = null;
    },
  };
}
