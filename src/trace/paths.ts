import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SyswardenError } from '../errors.js';

/**
 * Files named directly, plus every regular, non-hidden file of named
 * directories (natural order: _2 before _10). `option` names the flag in errors.
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
      const files = readdirSync(path)
        .filter((f) => !f.startsWith('.'))
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
