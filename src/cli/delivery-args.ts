import { parseDelivery, type DeliveryOptions } from '../alert/outputs.js';
import { parseDecimal, parseInteger } from './args.js';

/** The delivery options as parseArgs gives them (watch declares them: output, format, output-buffer, flush-timeout, out, pretty). */
export interface DeliveryArgValues {
  out?: string;
  output?: string[];
  format?: string;
  pretty?: boolean;
  'output-buffer'?: string;
  'flush-timeout'?: string;
}

/** --output/--out, --format/--pretty, --output-buffer, --flush-timeout: every error is a usage error (exit 2). */
export function parseDeliveryArgs(values: DeliveryArgValues): DeliveryOptions {
  const buffer = parseInteger('output-buffer', values['output-buffer'], { min: 1, max: 1_000_000, unit: 'records' });
  const flushTimeoutS = parseDecimal('flush-timeout', values['flush-timeout'], { min: 0, max: 3600, unit: 'seconds' });
  return parseDelivery({ ...values, ...(buffer !== undefined ? { buffer } : {}), ...(flushTimeoutS !== undefined ? { flushTimeoutS } : {}) });
}
