import { setLongTimeout } from '../long-timer.js';
import type { Collector } from './collector.js';
import { describeTarget, RecordingWriter } from './recording.js';

export interface RecordOptions {
  /** Stop after this many milliseconds. */
  durationMs?: number;
  /** Stop when aborted (the CLI wires SIGINT/SIGTERM here). */
  signal?: AbortSignal;
  overwrite?: boolean;
  /** Called about once a second with the running event count. */
  onProgress?: (events: number) => void;
}

/**
 * Write everything `collector` delivers into a new recording at `out` until
 * the duration passes or the signal fires, then close the collector (which
 * drains the ring a last time), write the trailer with the final counters
 * and return the number of events written. The collector is closed on every
 * path, a recording that cannot be created included.
 */
export async function recordToFile(collector: Collector, out: string, options: RecordOptions = {}): Promise<number> {
  let writer: RecordingWriter;
  try {
    writer = RecordingWriter.create(
      out,
      { targets: collector.targets().map(describeTarget), allProcesses: collector.matchAll },
      { overwrite: options.overwrite === true },
    );
  } catch (err) {
    // The collector is ours to close on every path: left open, its consumer thread keeps the process alive and the program attached.
    await collector.close();
    throw err;
  }
  const gone: number[] = [];
  const onGone = (t: { id: number }) => gone.push(t.id);
  collector.on('target-gone', onGone);
  const stop = () => void collector.close();
  const timer = options.durationMs !== undefined ? setLongTimeout(stop, options.durationMs) : undefined;
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) stop();
  const progress = options.onProgress ? setInterval(() => options.onProgress!(writer.eventCount), 1000) : undefined;
  try {
    // A failed write (disk full) ends the loop: the iterator's return() closes the collector.
    for await (const batch of collector) writer.writeBatch(batch);
  } finally {
    timer?.clear();
    if (progress) clearInterval(progress);
    options.signal?.removeEventListener('abort', stop);
    collector.off('target-gone', onGone);
    await collector.close();
    writer.finish(collector.stats(), gone);
  }
  if (writer.failure) throw writer.failure;
  return writer.eventCount;
}
