// The one way into msgpackr: its native string extractor off first (see msgpack-pure-js.ts).
import './msgpack-pure-js.js';

export { Packr } from 'msgpackr';
