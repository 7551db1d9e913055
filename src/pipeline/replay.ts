import { alertContainer, type AlertContainer } from '../alert/alert.js';
import { eachRecordingBatch, isRecording, type RecordingHeader } from '../capture/recording.js';
import { EventBatch, NR_U16, RECORD_LAYOUT, TID_U32, U16_PER_RECORD, U32_PER_RECORD } from '../capture/record.js';
import { openTrace, type ReadTraceOptions, type TraceBatch } from '../trace/read-trace.js';
import type { Pipeline } from './pipeline.js';

/** A trace batch as raw records (tid = stream id + 1, slot 0, no timestamp), so traces replay like recordings. */
export function traceBatchToEvents(b: TraceBatch): EventBatch {
  const buf = new ArrayBuffer(b.count * RECORD_LAYOUT.size);
  const u32 = new Uint32Array(buf);
  const u16 = new Uint16Array(buf);
  for (let i = 0; i < b.count; i++) {
    u32[i * U32_PER_RECORD + TID_U32] = b.threads[i]! + 1;
    u16[i * U16_PER_RECORD + NR_U16] = b.calls[i]!;
  }
  return new EventBatch(buf);
}

function containersOf(header: RecordingHeader): (slot: number) => AlertContainer {
  const targets = new Map(header.targets.map((t) => [t.slot, t]));
  return (slot) => alertContainer(slot, targets.get(slot));
}

/**
 * Feed a recording or a trace file through a pipeline, as live capture
 * would, waiting for the workers so no batch is dropped. Returns a warning
 * when the file was incomplete.
 */
export async function replayFile(pipeline: Pipeline, path: string, read: ReadTraceOptions = {}): Promise<{ events: number; warning?: string }> {
  let events = 0;
  const pushAll = async (b: EventBatch) => {
    events += b.count;
    // Never drop in replay: wait for room instead.
    while (pipeline.inFlight >= pipeline.workerCount * 8) await pipeline.drain();
    pipeline.push(b);
  };
  if (isRecording(path)) {
    const end = await eachRecordingBatch(path, async (b, header) => {
      if (events === 0) pipeline.setContainers(containersOf(header));
      await pushAll(b);
    });
    await pipeline.drain();
    return end.truncated ? { events, warning: end.truncated } : { events };
  }
  const src = await openTrace(path, read);
  pipeline.setContainers((slot) => ({ slot, spec: path }));
  for await (const b of src) if (b.count > 0) await pushAll(traceBatchToEvents(b));
  await pipeline.drain();
  return { events };
}
