import { expect, it } from 'vitest';
import { factory as rf } from '../../src/detect/rf.js';
import { factory as knn } from '../../src/detect/knn.js';
import { factory as mlp } from '../../src/detect/mlp.js';
import { factory as ocsvm } from '../../src/detect/ocsvm.js';
import { factory as iforest } from '../../src/detect/iforest.js';
import { factory as ada } from '../../src/detect/ada.js';
import { toyWindows } from './helpers/toy.js';

it('options out of range are refused with the option name and the bad value', () => {
  expect(() => rf.create({ nEstimators: 0 })).toThrow(/nEstimators.*got 0/);
  expect(() => rf.create({ maxFeatures: 'half' as never })).toThrow(/maxFeatures/);
  expect(() => knn.create({ k: 1.5 })).toThrow(/option k .*got 1.5/);
  expect(() => mlp.create({ learningRate: 0 })).toThrow(/learningRate/);
  expect(() => ocsvm.create({ nu: 0 })).toThrow(/option nu/);
  expect(() => iforest.create({ maxSamples: 1 })).toThrow(/maxSamples/);
  expect(() => ada.create({ seed: -1 })).toThrow(/seed/);
});

it('supervised classifiers refuse unlabelled windows; scoring another window size is refused', () => {
  const train = toyWindows(100, 0.3, 1);
  expect(() => rf.create().fit({ size: train.size, count: train.count, data: train.data })).toThrow(/needs windows with labels/);
  const det = knn.create();
  expect(() => det.score(train)).toThrow(/before fit/);
  det.fit(train);
  expect(() => det.score({ size: 3, count: 1, data: new Uint16Array(3) })).toThrow(/size 5.*size 3/);
});
