import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SyswardenError } from '../errors.js';
import type { ZipDirectory, ZipMember } from '../io/zip.js';

/** LID-DS 2019's table of a scenario's recordings, beside them (see attack-start.ts). */
export const RUNS_TABLE = 'runs.csv';

/** A file's name without its last extension. */
export function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** What LID-DS keeps beside a recording's events (`<name>.sc`), in its directory or its archive: metadata, resources, packets. */
const SIDE_FILE = /\.(json|res|pcap)$/;

/**
 * Whether a file of a directory is a trace's companion rather than a trace:
 * `<name>.json` beside another `<name>.*` (a trace's metadata: an LID-DS
 * recording's, a scenario run's label), the resource and packet files
 * LID-DS ships beside a recording's `<name>.sc` or its `<name>.zip` (side
 * files unzipped beside the archive), LID-DS 2019's table of
 * runs (`runs.csv`) beside its recordings, and a recording's archive
 * `<name>.zip` beside its unzipped `<name>.sc` (unzipped in place, the one
 * recording would otherwise count twice, and could be learnt and tested).
 */
function isCompanion(name: string, names: ReadonlySet<string>, stems: ReadonlyMap<string, number>): boolean {
  const s = stem(name);
  if (name === RUNS_TABLE) return names.size > 1;
  if (name.endsWith('.json')) return (stems.get(s) ?? 0) > 1;
  if (SIDE_FILE.test(name)) return names.has(`${s}.sc`) || names.has(`${s}.zip`);
  return name.endsWith('.zip') && names.has(`${s}.sc`);
}

/** Hidden files, and the resource forks an archiver on macOS adds. */
const HIDDEN_OR_MAC_FORK = /(^|\/)\.[^/]*$|^__MACOSX\//;

/**
 * What an archive holds beside a recording's trace: LID-DS's side files;
 * hidden files, and the resource forks an archiver on macOS adds
 * (`__MACOSX/`).
 */
function isArchiveCompanion(name: string): boolean {
  return SIDE_FILE.test(name) || HIDDEN_OR_MAC_FORK.test(name);
}

/**
 * The trace in a zip archive: its one member that is no companion.
 * LID-DS 2021 zips each recording as `<name>.sc` with its `<name>.json`,
 * `.res` and `.pcap`.
 */
export function traceMember(zip: ZipDirectory): ZipMember {
  const traces = zip.members.filter((m) => !isArchiveCompanion(m.name));
  if (traces.length === 1) return traces[0]!;
  const listed = traces.slice(0, 3).map((m) => m.name).join(', ');
  throw new SyswardenError(
    'ERR_ZIP',
    traces.length === 0
      ? `zip archive ${zip.path} holds no trace (${zip.members.length === 0 ? 'no files at all' : 'only metadata, resource or packet files'}). Fix: give the archive of a recording, or its trace file.`
      : `zip archive ${zip.path} holds ${traces.length} files that could each be the trace (${listed}${traces.length > 3 ? ', ...' : ''}); syswarden reads an archive of one recording. Fix: unzip it and give the trace files.`,
  );
}

/** A directory's trace files (not their companions) and its subdirectories, non-hidden, in natural order (_2 before _10). */
function entriesOf(path: string): { files: string[]; dirs: string[] } {
  const names = readdirSync(path).filter((f) => !f.startsWith('.'));
  const all = new Set(names);
  const stems = new Map<string, number>();
  for (const f of names) stems.set(stem(f), (stems.get(stem(f)) ?? 0) + 1);
  const files: string[] = [];
  const dirs: string[] = [];
  for (const f of names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    const st = statSync(join(path, f));
    if (st.isDirectory()) dirs.push(join(path, f));
    else if (st.isFile() && !isCompanion(f, all, stems)) files.push(join(path, f));
  }
  return { files, dirs };
}

/**
 * Files named directly, plus every regular, non-hidden file of named
 * directories (natural order: _2 before _10) but a trace's companions (see
 * isCompanion); of a directory that holds only directories, every such file
 * of each of them (one level down: the attack kind is then each file's
 * directory). `option` names the flag in errors.
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
      const { files, dirs } = entriesOf(path);
      // A directory of directories only (ADFA-LD's attack data: one per attack, named for it): the files of each.
      if (files.length === 0) for (const d of dirs) files.push(...entriesOf(d).files);
      if (files.length === 0) {
        throw new SyswardenError(
          'ERR_TRACE_NOT_FOUND',
          `directory ${spec} holds no trace files${dirs.length > 0 ? ', nor do its subdirectories' : ''}. Fix: point ${option} at trace files.`,
        );
      }
      out.push(...files);
    } else {
      out.push(path);
    }
  }
  return out;
}
