import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { factory as stide } from '../../src/detect/stide.js';
import { statedCalibration } from '../../src/detect/calibration.js';
import { MODEL_FORMAT, decodeModel, encodeModel, modelFromBytes, modelBody, sealModel } from '../../src/detect/model-file.js';
import { toyProblem } from './helpers/sequence-toy.js';

const packr = new Packr({ moreTypes: true, useRecords: false });

function fitted() {
  const d = stide.create();
  d.fit(toyProblem(3).train);
  return d;
}

/** The fields of a valid saved model, to edit and seal again. */
function savedFields(): Record<string, unknown> {
  return packr.unpack(modelBody(encodeModel(fitted(), statedCalibration(0.5, 20), { filter: 'none' }))) as Record<string, unknown>;
}

describe('model file checks', () => {
  it('rejects bytes that are not a model', () => {
    expect(() => decodeModel(Buffer.from('read\nwrite\n'), 'trace.txt')).toThrow(/trace\.txt is not a syswarden model file/);
    expect(() => decodeModel(packr.pack({ magic: 'other' }), 'x.bin')).toThrow(/x\.bin is not a syswarden model file/);
  });

  it('rejects a model of another detector when one is expected', () => {
    expect(() => modelFromBytes(encodeModel(fitted(), statedCalibration(1), { filter: 'none' }), 'm.model', { expect: 'bosc' })).toThrow(/m\.model holds a 'stide' model, not 'bosc'/);
  });

  it('rejects a detector state version this build does not read', () => {
    const old = sealModel(packr.pack({ ...savedFields(), detectorVersion: 99 }));
    expect(() => modelFromBytes(old, 'old.model')).toThrow(/old\.model holds a stide model of version 99; this syswarden's stide is version 1/);
  });

  it('rejects a model file format this build does not read', () => {
    const file = savedFields();
    expect(() => decodeModel(sealModel(packr.pack({ ...file, format: MODEL_FORMAT + 1 })), 'new.model')).toThrow(new RegExp(`new\\.model has model file format ${MODEL_FORMAT + 1}`));
    // Format 2 was sealed too, but its threshold applied to a detector's own score: it must not load as a calibrated model.
    expect(() => decodeModel(sealModel(packr.pack({ ...file, format: 2 })), 'v2.model')).toThrow(new RegExp(`v2\\.model has model file format 2; this syswarden reads format ${MODEL_FORMAT}\\. Fix: re-train`));
    // A file of the first format, without the seal, is named as such too.
    expect(() => decodeModel(packr.pack({ ...file, format: 1 }), 'old.model')).toThrow(/old\.model has model file format 1/);
  });

  it('rejects a model without a calibration, or with a calibration that disagrees with its threshold', () => {
    const file = savedFields();
    const { calibration: _, ...without } = file;
    expect(() => decodeModel(sealModel(packr.pack(without)), 'bare.model')).toThrow(/bare\.model is a damaged syswarden model: it has no calibration/);
    const calibration = file.calibration as Record<string, unknown>;
    expect(() => decodeModel(sealModel(packr.pack({ ...file, threshold: 0.25 })), 'two.model')).toThrow(/two\.model is a damaged syswarden model: its calibration threshold differs from its threshold/);
    expect(() => decodeModel(sealModel(packr.pack({ ...file, calibration: { ...calibration, frame: 0 } })), 'f.model')).toThrow(/damaged syswarden model: calibration\.frame is 0/);
  });

  it('keeps the executables learnt (sorted, once each) and rejects a list that is not one', () => {
    const bytes = encodeModel(fitted(), statedCalibration(0.5, 20), { filter: 'none', executables: ['/bin/sh', '/usr/bin/cat', '/bin/sh'] });
    expect(decodeModel(bytes, 'm.model').executables).toEqual(['/bin/sh', '/usr/bin/cat']);
    // None learnt (no process events): the field is absent, not an empty list that would flag every exec.
    expect(decodeModel(encodeModel(fitted(), statedCalibration(0.5, 20), { filter: 'none' }), 'n.model').executables).toBeUndefined();
    const file = savedFields();
    expect(() => decodeModel(sealModel(packr.pack({ ...file, executables: '/bin/sh' })), 'e.model')).toThrow(/e\.model is a damaged syswarden model: executables is not a list of at most 65536 paths/);
    expect(() => decodeModel(sealModel(packr.pack({ ...file, executables: ['/bin/sh', 7] })), 'e.model')).toThrow(/executables is not a list/);
  });
});
