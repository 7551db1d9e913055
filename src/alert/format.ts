import { SyswardenError } from '../errors.js';
import { formatAlert, type AlertRecord } from './alert.js';
import { toFalcoEvent } from './falco.js';

/** How a record is written: syswarden's JSON (docs/alert-schema.json), a Falco event (docs/falco-event-schema.json), or a readable line. */
export type AlertFormat = 'json' | 'falco' | 'pretty';
export const ALERT_FORMATS: readonly AlertFormat[] = ['json', 'falco', 'pretty'];

/** One record, encoded, without a line end. */
export function encodeRecord(r: AlertRecord, format: AlertFormat): string {
  if (format === 'pretty') return formatAlert(r);
  return JSON.stringify(format === 'falco' ? toFalcoEvent(r) : r);
}

export function parseFormat(v: string | undefined): AlertFormat | undefined {
  if (v === undefined) return undefined;
  if ((ALERT_FORMATS as readonly string[]).includes(v)) return v as AlertFormat;
  throw new SyswardenError('ERR_USAGE', `--format must be one of ${ALERT_FORMATS.join(', ')}, got '${v}'.`);
}
