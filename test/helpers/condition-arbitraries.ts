// Random trigger conditions and payloads: the shapes that matter (paths with prototype
// names, every operator, number texts JSON.stringify never writes) for the condition tests
// and the parser fuzzing.
import fc from 'fast-check';

// Prototype names are keys too: `$.constructor.name` must not reach Object.name.
export const key = fc.constantFrom('a', 'b', 'x', '0', '1', '01', '__proto__', 'constructor', 'toString', 'name', 'length');
export const path = fc
  .array(fc.oneof(key.map((k) => `.${k}`), fc.nat(3).map((n) => `[${n}]`)), { maxLength: 3 })
  .map((steps) => `$${steps.join('')}`);
export const operator = fc.constantFrom('>=', '<=', '!=', '==', '>', '<');
export const numberText = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.double().map(String), // includes NaN, Infinity, 5e-324, 1e+21
  fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }).map(String),
  fc.constantFrom('+5', '.5', '5.', '007', '1e3', '1E-2', '-0', '1e999', '-1e999', 'NaN', 'Infinity', '0x10', ' 42 '),
);
export const text = fc.oneof(
  fc.constantFrom('ok', 'true', 'false', 'null', 'critical', 'a>=b', 'x == y', '"', '""', 'say "hi"', '', ' pad '),
  fc.string({ maxLength: 8 }),
);
export const comparand = fc.oneof(numberText, text.map((s) => `"${s}"`), text);
export const space = fc.constantFrom('', ' ', '  ', '\t');
export const condition = fc.oneof(
  fc.tuple(space, path, space, operator, space, comparand, space).map((parts) => parts.join('')),
  fc.tuple(space, operator, space, comparand).map((parts) => parts.join('')),
  fc.constantFrom('', '  '),
);
const paddedNumber = fc.tuple(space, numberText, space).map((parts) => parts.join(''));
const leaf = fc.oneof(fc.integer(), fc.double(), fc.maxSafeInteger(), paddedNumber, text, fc.boolean(), fc.constant(null));
const { json } = fc.letrec<{ json: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  json: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('json'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('json'), { maxKeys: 4 }),
}));
export const payload = fc.oneof(
  json.map((value) => JSON.stringify(value)),
  // Number texts JSON.stringify never writes: huge integers, 1e999, exponents (or invalid JSON).
  fc.tuple(key, numberText).map(([k, t]) => `{"${k}": ${t}}`),
  fc.tuple(key, numberText).map(([k, t]) => `{"${k}": [${t}, {"${k}": ${t}}]}`),
  numberText,
  text,
  fc.constant(undefined),
);

