/**
 * Caps on the files the daemon reads (policy, provisioning, configuration, settings): their
 * defaults, and how a cap is named in a log line (its configuration key and its flag), so the
 * line tells an operator which knob to turn. docs/netsessiond.md lists them.
 */

/** How a cap is named in a message: its configuration key and its flag. */
export interface CapName {
  key: string;
  flag: string;
}

/** Bytes per file: `MaxFileSize` / `--max-file-size`. */
export const FILE_SIZE_CAP: CapName = { key: 'MaxFileSize', flag: '--max-file-size' };

/**
 * Default for {@link FILE_SIZE_CAP}: 256 KiB, some 25 times the largest real policy file we know;
 * parsing that much takes ~15 ms on a loaded 2-core machine, so one file never stalls D-Bus.
 */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024;

/** Files held per policy or provisioning directory: `MaxDirFiles` / `--max-dir-files`. */
export const DIR_FILES_CAP: CapName = { key: 'MaxDirFiles', flag: '--max-dir-files' };

/** Default for {@link DIR_FILES_CAP}. */
export const DEFAULT_MAX_DIR_FILES = 1000;

/** One phrase: `N bytes is over MaxFileSize 1048576 (--max-file-size)`. */
export function overCap(what: string, cap: number, name: CapName): string {
  return `${what} is over ${name.key} ${cap} (${name.flag})`;
}
