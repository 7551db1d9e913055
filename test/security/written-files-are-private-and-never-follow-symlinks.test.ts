import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertWriter } from '../../src/alert/sink.js';
import { RecordingWriter } from '../../src/capture/recording.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { loadModel, saveModel } from '../../src/detect/model-file.js';
import { factory as stide } from '../../src/detect/stide.js';
import { SyswardenError } from '../../src/errors.js';
import { toyProblem } from '../detect/helpers/sequence-toy.js';

const STATS = { attach: 'tp_btf' as const, kernel: { matched: 0, emitted: 0, dropped: 0 }, user: { batches: 0, events: 0, droppedBatches: 0, droppedEvents: 0 } };
const alert = { type: 'alert', tid: 1, window: ['read'], score: 1, threshold: 0.5, detector: 'stide', model: 'm', count: 1 } as never;

let dir: string;
let victim: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-files-'));
  victim = join(dir, 'victim');
  writeFileSync(victim, 'precious', { mode: 0o644 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('files syswarden writes are private and never follow a planted symlink', () => {
  it('a model is saved with mode 0600, and a symlink at its path is refused, with or without force, never written through', async () => {
    const d = stide.create();
    d.fit(toyProblem(3).train);
    const calibration = statedCalibration(1);
    const fresh = join(dir, 'fresh.model');
    await saveModel(fresh, d, calibration, { filter: 'none' });
    expect(mode(fresh)).toBe(0o600);
    expect((await loadModel(fresh)).detector.name).toBe('stide');
    await expect(saveModel(fresh, d, calibration, { filter: 'none' })).rejects.toThrow(/already exists.*--force/);

    const planted = join(dir, 'planted.model');
    symlinkSync(victim, planted);
    await expect(saveModel(planted, d, calibration, { filter: 'none' })).rejects.toThrow(/symbolic link/);
    await expect(saveModel(planted, d, calibration, { filter: 'none', force: true })).rejects.toThrow(/symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a recording is created with mode 0600 and refuses a symlink, with or without --force', () => {
    const fresh = join(dir, 'fresh.swrec');
    RecordingWriter.create(fresh, { targets: [], allProcesses: true }).finish(STATS);
    expect(mode(fresh)).toBe(0o600);

    const planted = join(dir, 'planted.swrec');
    symlinkSync(victim, planted);
    expect(() => RecordingWriter.create(planted, { targets: [], allProcesses: true })).toThrow(SyswardenError);
    expect(() => RecordingWriter.create(planted, { targets: [], allProcesses: true }, { overwrite: true })).toThrow(/symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(mode(victim)).toBe(0o644);

    const dangling = join(dir, 'dangling.swrec');
    symlinkSync(join(dir, 'would-be-created'), dangling);
    expect(() => RecordingWriter.create(dangling, { targets: [], allProcesses: true }, { overwrite: true })).toThrow(SyswardenError);
    expect(readdirSync(dir)).not.toContain('would-be-created');
  });

  it('an overwritten recording ends up 0600 too', () => {
    const p = join(dir, 'old.swrec');
    writeFileSync(p, 'old', { mode: 0o644 });
    RecordingWriter.create(p, { targets: [], allProcesses: true }, { overwrite: true }).finish(STATS);
    expect(mode(p)).toBe(0o600);
  });

  it('an alert file is created 0600, appended to when it exists, and refused when it is a symlink', () => {
    const fresh = join(dir, 'alerts.jsonl');
    const w = new AlertWriter(fresh);
    w.write(alert);
    w.close();
    expect(mode(fresh)).toBe(0o600);
    const again = new AlertWriter(fresh);
    again.write(alert);
    again.close();
    expect(readFileSync(fresh, 'utf8').trim().split('\n')).toHaveLength(2);

    const planted = join(dir, 'planted.jsonl');
    symlinkSync(victim, planted);
    expect(() => new AlertWriter(planted)).toThrow(/symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
  });
});
