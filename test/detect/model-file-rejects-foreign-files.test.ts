import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { factory as stide } from '../../src/detect/stide.js';
import { decodeModel, encodeModel, modelFromBytes, modelBody, sealModel } from '../../src/detect/model-file.js';
import { toyProblem } from './helpers/sequence-toy.js';

const packr = new Packr({ moreTypes: true, useRecords: false });

function fitted() {
  const d = stide.create();
  d.fit(toyProblem(3).train);
  return d;
}

describe('model file checks', () => {
  it('rejects bytes that are not a model', () => {
    expect(() => decodeModel(Buffer.from('read\nwrite\n'), 'trace.txt')).toThrow(/trace\.txt is not a syswarden model file/);
    expect(() => decodeModel(packr.pack({ magic: 'other' }), 'x.bin')).toThrow(/x\.bin is not a syswarden model file/);
  });

  it('rejects a model of another detector when one is expected', () => {
    expect(() => modelFromBytes(encodeModel(fitted(), { filter: 'none' }), 'm.model', { expect: 'bosc' })).toThrow(/m\.model holds a 'stide' model, not 'bosc'/);
  });

  it('rejects a detector state version this build does not read', () => {
    const file = packr.unpack(modelBody(encodeModel(fitted(), { filter: 'none' }))) as Record<string, unknown>;
    const old = sealModel(packr.pack({ ...file, detectorVersion: 99 }));
    expect(() => modelFromBytes(old, 'old.model')).toThrow(/old\.model holds a stide model of version 99; this syswarden's stide is version 1/);
  });

  it('rejects a model file format this build does not read', () => {
    const file = packr.unpack(modelBody(encodeModel(fitted(), { filter: 'none' }))) as Record<string, unknown>;
    expect(() => decodeModel(sealModel(packr.pack({ ...file, format: 3 })), 'new.model')).toThrow(/new\.model has model file format 3/);
    // A file of the previous format, without the seal, is named as such too.
    expect(() => decodeModel(packr.pack({ ...file, format: 1 }), 'old.model')).toThrow(/old\.model has model file format 1/);
  });
});
