import { isIP } from 'node:net';
import { SyswardenError } from '../errors.js';

/** Where the metrics endpoint listens: an IP address literal and a port (0: any free port, printed once bound). */
export interface MetricsAddress {
  host: string;
  port: number;
  /** 4 or 6. */
  family: 4 | 6;
}

/** The address the help and errors show as an example (nothing listens unless told). */
export const EXAMPLE_METRICS_ADDRESS = '127.0.0.1:9469';

const FORMS = `give an IP address and a port, e.g. ${EXAMPLE_METRICS_ADDRESS} (this host only), [::1]:9469, or 0.0.0.0:9469 (every interface)`;

function refuse(value: string, why: string): SyswardenError {
  return new SyswardenError('ERR_USAGE', `--metrics '${value}': ${why}; ${FORMS}.`);
}

/**
 * Parse `--metrics <ip:port>`. Only an IP literal is taken: a host name
 * could resolve to an interface the user did not mean to expose, and an
 * empty host would mean every interface. Port 0 asks the kernel for a free
 * port (watch prints the one it got).
 */
export function parseMetricsAddress(value: string): MetricsAddress {
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(value) ?? /^([^:[\]]*):([^:]*)$/.exec(value);
  if (!m) throw refuse(value, value.includes(':') ? 'an IPv6 address goes in brackets, before the port' : 'no port');
  const [, host, port] = m as unknown as [string, string, string];
  if (host === '') throw refuse(value, 'no address (syswarden binds only where it is told)');
  const family = isIP(host);
  if (family === 0) throw refuse(value, `'${host}' is not an IP address`);
  if ((family === 6) !== value.startsWith('[')) throw refuse(value, family === 6 ? 'an IPv6 address goes in brackets' : 'brackets are for an IPv6 address only');
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) throw refuse(value, `the port must be a whole number from 0 to 65535, got '${port}'`);
  return { host, port: Number(port), family: family as 4 | 6 };
}

/** How the address is written in a URL. */
export function formatAddress(a: { host: string; port: number; family: 4 | 6 }): string {
  return a.family === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
