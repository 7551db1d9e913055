#!/usr/bin/env node
// How often a live-learnt model false-alarms on the normal traffic that
// follows its learning: the question the built-in demo asks in its normal
// phase. Captures the cgroup demo's web application (busybox httpd, a CGI
// script and a client loop, all real, on loopback) for --seconds, then
// learns a model from each successive --learn stretch exactly as live
// training does (LIVE_PARTS stretches of time held out, the hourly budget)
// and scores every later --test stretch through the frame decision.
//
//   node bench/live-calibration.mjs [--seconds 300] [--learn 40] [--test 4] [--step 10] [--window 6]
//                                   [--attacks 6] [--save capture.v8 | --load capture.v8]
//
// --attacks N sends the demo's attack request N times, evenly spread over the
// capture: a test stretch holding one counts as an attack stretch (detected
// when it alarms), never as normal traffic. --save keeps the capture, and
// --load evaluates a kept one again (after a change to the calibration).
//
// Prints, per learning, the threshold and how it was chosen, and at the end
// the share of test stretches that alarmed (what the demo's normal phase
// would have seen) and the expected rate the calibrations claimed.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { serialize, deserialize } from 'node:v8';
import { Collector, AGENT_CONSUMER_NICE } from '../dist/capture/collector.js';
import { EventBatch } from '../dist/capture/record.js';
import { createScratchCgroup } from '../dist/capture/scratch-cgroup.js';
import { startWebWorkload } from '../dist/demo/web-workload.js';
import { NormalLearner, LIVE_PARTS } from '../dist/detect/train.js';
import { decisionScores } from '../dist/detect/decision.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    learn: { type: 'string', default: '40' },
    test: { type: 'string', default: '4' },
    step: { type: 'string', default: '10' },
    window: { type: 'string', default: '6' },
    attacks: { type: 'string', default: '0' },
    save: { type: 'string' },
    load: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const learnS = Number(values.learn);
const testS = Number(values.test);
const stepS = Number(values.step);
const window = Number(values.window);

/** Every batch, copied, with when it arrived (ms from the start); when each attack was sent (ms). */
let batches = [];
let attacksAt = [];
if (values.load) {
  const kept = deserialize(readFileSync(values.load));
  batches = kept.batches.map((b) => ({ at: b.at, batch: new EventBatch(b.buffer, b.drainedNs, { events: b.proc, bytes: b.procBytes }) }));
  attacksAt = kept.attacksAt;
} else {
  const cg = createScratchCgroup(`syswarden-livecal-${process.pid}`);
  const collector = await Collector.open({ targets: [cg.spec], consumerNice: AGENT_CONSUMER_NICE });
  const web = await startWebWorkload(cg);
  // The server's start is once-only: skip it, as the demo does.
  await new Promise((r) => setTimeout(r, 3000));
  const t0 = Date.now();
  collector.on('batch', (b) => batches.push({ at: Date.now() - t0, batch: new EventBatch(b.buffer.slice(0), b.drainedNs, { events: b.proc, bytes: b.procBytes }) }));
  process.stderr.write(`capturing ${seconds} s of the demo web application...\n`);
  const attacks = Number(values.attacks);
  for (let k = 1; k <= attacks; k++) {
    await new Promise((r) => setTimeout(r, t0 + (k * seconds * 1000) / (attacks + 1) - Date.now()));
    attacksAt.push(Date.now() - t0);
    await web.attack();
  }
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + seconds * 1000 - Date.now())));
  await web.stop();
  await collector.close();
  await cg.remove();
  if (values.save) {
    const kept = batches.map(({ at, batch: b }) => ({ at, buffer: b.buffer, drainedNs: b.drainedNs, proc: b.proc, procBytes: b.procBytes }));
    writeFileSync(values.save, serialize({ batches: kept, attacksAt }));
  }
}
const events = batches.reduce((n, b) => n + b.batch.count, 0);
process.stderr.write(`${events} events in ${batches.length} batches\n`);

const partMs = Math.max(1000, (learnS * 1000) / LIVE_PARTS);
const rows = [];
let alarmed = 0;
let stretches = 0;
let attackStretches = 0;
let detected = 0;
for (let start = 0; (start + learnS + testS) * 1000 <= seconds * 1000; start += stepS) {
  const from = start * 1000;
  const until = from + learnS * 1000;
  // A model is learnt from normal traffic only (and 3 s after an attack, its last process gone).
  if (attacksAt.some((a) => a >= from - 3000 && a < until)) continue;
  const learner = new NormalLearner(window, 'none');
  learner.live = true;
  for (const { at, batch } of batches) {
    if (at < from || at >= until) continue;
    learner.currentPart = Math.floor((at - from) / partMs);
    learner.addBatch(batch);
  }
  learner.mark(learnS);
  let fit;
  try {
    fit = learner.fit({}, partMs / 1000, learnS);
  } catch (e) {
    rows.push({ start, error: e.message });
    continue;
  }
  const { detector, calibration } = fit;
  // Everything after the learning, in test stretches: one learner builds the windows (streams carry over), each window labelled with its stretch.
  const after = new NormalLearner(window, 'none');
  for (const { at, batch } of batches) {
    if (at < until) continue;
    after.currentPart = Math.floor((at - until) / (testS * 1000));
    after.addBatch(batch);
  }
  const set = after.windowSet();
  const part = after.part.view();
  const decided = decisionScores(set, detector.score(set), calibration.frame, calibration.trim);
  const peak = new Map();
  for (let i = 0; i < set.count; i++) peak.set(part[i], Math.max(peak.get(part[i]) ?? 0, decided[i]));
  // A stretch holding an attack (or the 3 s after one) is an attack stretch.
  const attackPart = new Set();
  for (const a of attacksAt) if (a >= until) for (let t = a; t < a + 3000; t += 500) attackPart.add(Math.floor((t - until) / (testS * 1000)));
  let over = 0;
  let normalParts = 0;
  for (const [p, v] of peak) {
    if (attackPart.has(p)) {
      attackStretches++;
      if (v >= calibration.threshold) detected++;
    } else {
      normalParts++;
      if (v >= calibration.threshold) over++;
    }
  }
  const attackPeaks = [...attackPart].filter((p) => peak.has(p)).map((p) => +peak.get(p).toFixed(3));
  alarmed += over;
  stretches += normalParts;
  const peaks = Array.from(calibration.peaks);
  rows.push({
    start,
    threshold: +calibration.threshold.toFixed(3),
    rule: calibration.rule,
    heldOutMax: +Math.max(...peaks).toFixed(3),
    heldOutMedian: +peaks[peaks.length >> 1].toFixed(3),
    laterNormalMax: +Math.max(...[...peak].filter(([p]) => !attackPart.has(p)).map(([, v]) => v)).toFixed(3),
    alarmedStretches: `${over}/${normalParts}`,
    attackPeaks,
    expectedPerHour: +calibration.expected.toFixed(3),
    peaks: peaks.map((p) => +p.toFixed(3)),
  });
}
for (const r of rows) console.log(JSON.stringify(r));
console.log(JSON.stringify({ learnS, testS, models: rows.length, stretches, alarmed, share: alarmed / stretches, perHour: alarmed / ((stretches * testS) / 3600), attackStretches, detected }));
