import { recordingBatches, RECORDING_MAGIC } from '../capture/recording.js';
import type { TraceIssues } from './issues.js';
import type { TraceFormat } from './read-trace.js';
import { StreamIds, type EventSink } from './sink.js';
import { syscallNumber } from './syscalls.js';

const EXIT = syscallNumber('exit')!;
const EXIT_GROUP = syscallNumber('exit_group')!;

/**
 * syswarden's own recordings as a trace format, so every command that reads
 * traces (eval, train --from, replay) reads recordings too. Each kernel
 * thread id becomes a stream; a thread's exit ends its stream, so a reused
 * tid starts a new one. A recording carries its own numbering (what the
 * capture side stored), so the `abi` read option does not apply to it and
 * is ignored here.
 */
export const recordingTraceFormat: TraceFormat = {
  name: 'recording',
  description: 'syswarden recordings (syswarden record)',
  priority: 100,
  sniff: (head) => head.length >= RECORDING_MAGIC.length && head.subarray(0, RECORDING_MAGIC.length).equals(RECORDING_MAGIC),
  events: (path: string, sink: EventSink, issues: TraceIssues) => recordingEvents(path, sink, issues),
};

/**
 * Kernel thread ids to stream ids, the rule every reader of recordings uses:
 * each thread is a stream, and its exit ends the stream, so a reused tid
 * starts a new one.
 */
export class ThreadStreams extends StreamIds {
  /** After the call `nr` by `tid`: true (and the stream ended) when it was the thread's exit. */
  ended(tid: number, nr: number): boolean {
    if (nr !== EXIT && nr !== EXIT_GROUP) return false;
    this.end(tid);
    return true;
  }
}

/** What a reader of a recording cut short tells. */
export function truncatedWarning(path: string, why: string): string {
  return `${path}: ${why}; read up to the last complete batch`;
}

async function* recordingEvents(path: string, sink: EventSink, issues: TraceIssues): AsyncGenerator<void> {
  const streams = new ThreadStreams(sink);
  const it = recordingBatches(path);
  for (;;) {
    const r = await it.next();
    if (r.done) {
      if (r.value.truncated) (issues.warnings ??= []).push(truncatedWarning(path, r.value.truncated));
      break;
    }
    const b = r.value.batch;
    for (let i = 0; i < b.count; i++) {
      const tid = b.tid(i);
      const nr = b.nr(i);
      sink.call(streams.of(tid), nr);
      streams.ended(tid, nr);
    }
    yield;
  }
}
