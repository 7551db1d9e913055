// The public API of syswarden. Everything else is internal.
export { Collector, AGENT_CONSUMER_NICE, type CollectorOptions, type CollectorStats, type TargetInfo } from './capture/collector.js';
export { EventBatch, RECORD_LAYOUT, SLOT_ALL } from './capture/record.js';
export { resolveTarget, TARGET_SPEC_HELP, type ResolvedTarget } from './capture/targets.js';
export { readRecording, recordingBatches, RecordingWriter, type RecordingHeader, type RecordingTrailer } from './capture/recording.js';
export { recordToFile, type RecordOptions } from './capture/record-session.js';
export { summarizeRecording, type RecordingSummary } from './capture/summary.js';
export { Pipeline, PipelineModel, AGENT_WORKER_NICE, type PipelineOptions, type PipelineStats } from './pipeline/pipeline.js';
export { replayFile } from './pipeline/replay.js';
export { train, trainLive, trainFromFiles, type TrainOptions, type TrainResult, type LearningPoint } from './detect/train.js';
export { loadModel, saveModel, type ModelFile } from './detect/model-file.js';
export { getDetector, DETECTOR_NAMES } from './detect/registry.js';
export type { Detector, DetectorFactory, StreamScorer } from './detect/detector.js';
export type { WindowSet } from './window/window-set.js';
export { readTrace, openTrace } from './trace/read-trace.js';
export { formatAlert, type Alert, type AlertContainer, type AlertRecord } from './alert/alert.js';
export { syscallName, syscallNumber, PSEUDO_BASE } from './trace/syscalls.js';
export { SyswardenError, isSyswardenError } from './errors.js';
