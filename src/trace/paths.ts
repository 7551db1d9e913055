import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SyswardenError } from '../errors.js';

/** A file's name without its last extension. */
/** LID-DS 2019's table of a scenario's recordings, beside them (see attack-start.ts). */
export const RUNS_TABLE = 'runs.csv';

export function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * Whether a file of a directory is a trace's companion rather than a trace:
 * `<name>.json` beside another `<name>.*` (a trace's metadata: an LID-DS
 * recording's, a scenario run's label), the resource and packet files
 * LID-DS ships beside a recording's `<name>.sc`, and LID-DS 2019's table of
 * runs (`runs.csv`) beside its recordings.
 */
function isCompanion(name: string, names: ReadonlySet<string>, stems: ReadonlyMap<string, number>): boolean {
  const s = stem(name);
  if (name === RUNS_TABLE) return names.size > 1;
  if (name.endsWith('.json')) return (stems.get(s) ?? 0) > 1;
  return (name.endsWith('.res') || name.endsWith('.pcap')) && names.has(`${s}.sc`);
}

/**
 * Files named directly, plus every regular, non-hidden file of named
 * directories (natural order: _2 before _10) but a trace's companions (see
 * isCompanion). `option` names the flag in errors.
 */
export function expandPaths(specs: readonly string[], option = 'the command'): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    const path = resolve(spec);
    let st;
    try {
      st = statSync(path);
    } catch {
      throw new SyswardenError('ERR_TRACE_NOT_FOUND', `trace path ${spec} does not exist. Fix: check the path given to ${option}.`);
    }
    if (st.isDirectory()) {
      const names = readdirSync(path).filter((f) => !f.startsWith('.'));
      const all = new Set(names);
      const stems = new Map<string, number>();
      for (const f of names) stems.set(stem(f), (stems.get(stem(f)) ?? 0) + 1);
      const files = names
        .filter((f) => !isCompanion(f, all, stems))
        .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
        .map((f) => join(path, f))
        .filter((f) => statSync(f).isFile());
      if (files.length === 0) throw new SyswardenError('ERR_TRACE_NOT_FOUND', `directory ${spec} holds no trace files. Fix: point ${option} at trace files.`);
      out.push(...files);
    } else {
      out.push(path);
    }
  }
  return out;
}
