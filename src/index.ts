// The public API of syswarden. Everything else is internal.
export { Collector, type CollectorOptions, type CollectorStats, type TargetInfo } from './capture/collector.js';
export { EventBatch, RECORD_LAYOUT, SLOT_ALL } from './capture/record.js';
export { resolveTarget, TARGET_SPEC_HELP, type ResolvedTarget } from './capture/targets.js';
export { readRecording, RecordingWriter, type RecordingHeader, type RecordingTrailer } from './capture/recording.js';
export { recordToFile, type RecordOptions } from './capture/record-session.js';
export { summarizeRecording, type RecordingSummary } from './capture/summary.js';
export { syscallName, syscallNumber, PSEUDO_BASE } from './trace/syscalls.js';
export { SyswardenError, isSyswardenError } from './errors.js';
