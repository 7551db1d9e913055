import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { projectRoot } from '../capture/helpers.js';
import '../../src/detect/model-file.js';
import { isNativeAccelerationEnabled } from 'msgpackr';

// msgpackr's native string extractor re-initialises a table shared by every
// thread whenever a thread loads it, which can garble a decode running in
// another thread (see src/msgpack-pure-js.ts). syswarden's threads decode in
// JavaScript: here, and in a fresh worker thread as the scoring workers are.
it("syswarden's msgpackr does not use its native string extractor, in the main thread or a worker", async () => {
  expect(isNativeAccelerationEnabled).toBe(false);
  const modelFile = pathToFileURL(join(projectRoot, 'dist', 'detect', 'model-file.js')).href;
  const worker = new Worker(
    `import(${JSON.stringify(modelFile)}).then(() => import('msgpackr')).then((m) => require('node:worker_threads').parentPort.postMessage(m.isNativeAccelerationEnabled));`,
    { eval: true },
  );
  const inWorker = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  expect(inWorker).toBe(false);
});
