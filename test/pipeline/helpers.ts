import { statedCalibration } from '../../src/detect/calibration.js';
import { saveModel } from '../../src/detect/model-file.js';
import { Stide } from '../../src/detect/stide.js';
import { windowStream } from '../../src/window/windows.js';
import type { Alert } from '../../src/alert/alert.js';
import { EventBatch, RECORD_LAYOUT } from '../../src/capture/record.js';
import type { ScratchCgroup } from '../../src/capture/scratch-cgroup.js';
import { runWorkload } from '../capture/helpers.js';

/** Run the pattern workload in `cg` again and again until `stop()` is called. */
export function workloadLoop(cg: ScratchCgroup): { stop: () => Promise<void>; runs: () => number } {
  let running = true;
  let runs = 0;
  const done = (async () => {
    while (running) {
      await runWorkload(['--cgroup', cg.dir, 'pattern', '300', '2']);
      runs++;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
    },
    runs: () => runs,
  };
}

/** A batch of raw records from (tid, nr) pairs; slot and timestamp as given. */
export function makeBatch(events: ReadonlyArray<readonly [tid: number, nr: number]>, slot = 0, tsNs = 0): EventBatch {
  const buf = new ArrayBuffer(events.length * RECORD_LAYOUT.size);
  const dv = new DataView(buf);
  events.forEach(([tid, nr], i) => {
    const o = i * RECORD_LAYOUT.size;
    dv.setBigUint64(o + RECORD_LAYOUT.ts_ns, BigInt(tsNs + i), true);
    dv.setUint32(o + RECORD_LAYOUT.tid, tid, true);
    dv.setUint16(o + RECORD_LAYOUT.nr, nr, true);
    dv.setUint16(o + RECORD_LAYOUT.slot, slot, true);
  });
  return new EventBatch(buf);
}

/** What identifies an alert across runs (not its time, latency or /proc details). */
export function alertKey(a: Alert): string {
  return JSON.stringify([a.type, a.tid, a.window, a.score, a.count, a.container.slot, a.detector]);
}

/**
 * Save a STIDE model (windows of 4) that knows only a toy cycle and alarms
 * on every window it has not seen: with a frame of 1 the decision is the
 * window's own score (1 when unseen), and the stated threshold is 1. Every
 * window of a real process alarms under it.
 */
export async function saveAlarmingModel(path: string): Promise<void> {
  const d = new Stide();
  d.fit(windowStream(new Uint16Array(600).map((_, i) => (i % 6) + 1), 4));
  await saveModel(path, d, statedCalibration(1, 1), { filter: 'none' });
}
