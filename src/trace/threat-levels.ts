import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyswardenError } from '../errors.js';
import { readInputFile } from '../io/safe-file.js';
import { datasetPath } from './dataset.js';
import { MAX_SYSCALL, syscallNumber } from './syscalls.js';

/** Bernaschi et al. threat level per syscall number (1 = most dangerous ... 4 = harmless, 6 = other). */
export interface ThreatTable {
  /** The CSV it came from. */
  readonly source: string;
  readonly levels: ReadonlyMap<number, number>;
}

/**
 * Our own minimal table: only the level-4 (harmless) names, which is all the
 * harmless filter needs. The package build copies it next to this module
 * (dist/trace/); from a build without the copy, or a compile to another
 * folder, the source copy is found in src/trace/ of the project root: the
 * nearest folder above this module, or else above the working directory,
 * whose package.json is syswarden's. Fails listing every path tried.
 */
export function builtinThreatTablePath(): string {
  const here = fileURLToPath(new URL('./threat-levels.csv', import.meta.url));
  const tried = [here];
  if (existsSync(here)) return here;
  for (const start of [dirname(here), process.cwd()]) {
    const root = projectRoot(start);
    if (root === undefined) continue;
    const candidate = join(root, 'src', 'trace', 'threat-levels.csv');
    if (tried.includes(candidate)) continue;
    tried.push(candidate);
    if (existsSync(candidate)) return candidate;
  }
  throw new SyswardenError('ERR_THREAT_TABLE', `the built-in threat table is missing (tried ${tried.join(', ')}). Fix: pass --threat-table with a name,id,threat_level CSV, or reinstall syswarden.`);
}

/** The nearest folder at or above `start` whose package.json names syswarden. */
function projectRoot(start: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'syswarden') return dir;
      } catch {
        // An unreadable package.json is not ours; keep walking up.
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** A threat table is a few hundred short lines; anything near this size is not one. */
const MAX_THREAT_TABLE_BYTES = 16 << 20;

/** The dataset's syscalls.csv when the dataset is present, else the built-in table. */
export function defaultThreatTablePath(): string {
  const fromDataset = resolve(datasetPath(), 'syscalls.csv');
  return existsSync(fromDataset) ? fromDataset : builtinThreatTablePath();
}

/**
 * Reads a `name,id,threat_level` CSV (header required, columns in any
 * order). Rows are matched by name, so the dataset's own ids for signals
 * (335, 336) map onto our pseudo-syscall numbers; a name our table lacks
 * falls back to its id when that is a valid x86_64 number.
 */
export async function loadThreatTable(path = defaultThreatTablePath()): Promise<ThreatTable> {
  const text = (await readInputFile(path, { what: 'threat table', maxBytes: MAX_THREAT_TABLE_BYTES })).toString('utf8');
  const levels = new Map<number, number>();
  let lineNo = 0;
  let cols: { name: number; id: number; level: number } | undefined;
  const bad = (why: string) =>
    new SyswardenError('ERR_THREAT_TABLE', `${path}:${lineNo}: ${why}. Fix: the file must be a CSV with a header naming the columns name,id,threat_level.`);
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    const cells = line.split(',').map((c) => c.trim());
    if (!cols) {
      const idx = (n: string) => cells.indexOf(n);
      cols = { name: idx('name'), id: idx('id'), level: idx('threat_level') };
      // Never quote the line: --threat-table may name any file, a secret one included.
      if (cols.name < 0 || cols.level < 0) throw bad('header lacks a name or threat_level column');
      continue;
    }
    const name = cells[cols.name] ?? '';
    const levelText = cells[cols.level] ?? '';
    if (levelText === '') continue;
    const level = Number(levelText);
    if (!Number.isInteger(level) || level < 1) throw bad(`threat level '${levelText}' of '${name}' is not a positive integer`);
    let nr = syscallNumber(name);
    if (nr === undefined && cols.id >= 0) {
      const id = Number(cells[cols.id]);
      if (Number.isInteger(id) && id >= 0 && id <= MAX_SYSCALL) nr = id;
    }
    if (nr === undefined) throw bad(`unknown syscall '${name}'`);
    levels.set(nr, level);
  }
  if (!cols) throw bad('the file is empty');
  return { source: path, levels };
}
