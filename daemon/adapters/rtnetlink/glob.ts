/** Interface-name globs: the one implementation lives in the core (it is pure). */
export * from '../../core/glob.js';
