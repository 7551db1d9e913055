import { readFileSync } from 'node:fs';

/** The version in the package.json above this module's folder (dist/ or src/): one source, never copied. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
