/**
 * A validator for the part of JSON Schema (2020-12) docs/alert-schema.json
 * uses: type, properties, required, additionalProperties: false, enum,
 * const, items, maxItems, minimum, pattern, oneOf, and $ref to #/$defs. It refuses a
 * schema keyword it does not know, so the schema cannot grow past what is
 * checked without this failing.
 */
type Schema = Record<string, unknown>;

const KNOWN = new Set(['$schema', '$id', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'enum', 'const', 'items', 'maxItems', 'minimum', 'pattern', 'oneOf', '$ref', '$defs']);

export function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(root, root, value, '$', errors);
  return errors;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function check(root: Schema, s: Schema, v: unknown, path: string, errors: string[]): void {
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} at ${path} is not supported by this validator`);
  if (typeof s.$ref === 'string') {
    const m = /^#\/\$defs\/(.+)$/.exec(s.$ref);
    const target = m ? (root.$defs as Record<string, Schema>)[m[1]!] : undefined;
    if (!target) throw new Error(`unresolvable $ref ${s.$ref}`);
    check(root, target, v, path, errors);
  }
  if (Array.isArray(s.oneOf)) {
    const results = (s.oneOf as Schema[]).map((sub) => validateSub(root, sub, v, path));
    const passing = results.filter((r) => r.length === 0).length;
    if (passing !== 1) {
      // Say why the closest one failed: that is the record kind it was meant to be.
      const closest = passing === 0 ? results.reduce((a, b) => (b.length < a.length ? b : a)) : [];
      errors.push(`${path}: matches ${passing} of the oneOf schemas, not exactly one${closest.length ? ` (closest: ${closest.join('; ')})` : ''}`);
    }
  }
  if (s.type !== undefined) {
    const t = typeOf(v);
    const ok = (want: string) => want === t || (want === 'number' && t === 'integer');
    if (!(Array.isArray(s.type) ? (s.type as string[]).some(ok) : ok(s.type as string))) errors.push(`${path}: is ${t}, not ${String(s.type)}`);
  }
  if ('const' in s && JSON.stringify(v) !== JSON.stringify(s.const)) errors.push(`${path}: is ${JSON.stringify(v)}, not ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) errors.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof s.pattern === 'string' && typeof v === 'string' && !new RegExp(s.pattern, 'u').test(v)) errors.push(`${path}: ${JSON.stringify(v)} does not match ${s.pattern}`);
  if (typeof s.minimum === 'number' && typeof v === 'number' && v < s.minimum) errors.push(`${path}: ${v} is below ${s.minimum}`);
  if (Array.isArray(v)) {
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) errors.push(`${path}: has ${v.length} items, more than ${s.maxItems}`);
    if (s.items) v.forEach((item, i) => check(root, s.items as Schema, item, `${path}[${i}]`, errors));
  }
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) errors.push(`${path}: lacks ${r}`);
    for (const [k, val] of Object.entries(o)) {
      if (props[k]) check(root, props[k]!, val, `${path}.${k}`, errors);
      else if (s.additionalProperties === false) errors.push(`${path}: has ${k}, which the schema does not name`);
    }
  }
}

function validateSub(root: Schema, s: Schema, v: unknown, path: string): string[] {
  const errors: string[] = [];
  check(root, s, v, path, errors);
  return errors;
}
