// Password hashes for [[mqtt.users]]: scrypt$<N>$<r>$<p>$<salt b64>$<key b64>, made by
// `sopgate hash-password`. Verification runs on the libuv thread pool so a connecting
// client never blocks the broker's event loop.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

// A hash comes from the config file; these bounds keep a hostile or mistyped one from
// costing more than ~64 MiB or a few seconds per connection attempt.
const MAX_N = 1 << 17;
const MAX_R = 16;
const MAX_P = 4;
const MAX_MEM = 64 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(password, salt, KEY_BYTES, { N, r: R, p: P, maxmem: 2 * 128 * N * R });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** The hash's parts, or null when it is malformed or asks for too much work. */
export function parseHash(hash: string): Parsed | null {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [n, r, p] = parts.slice(1, 4).map((s) => (/^[1-9][0-9]{0,6}$/.test(s ?? '') ? Number(s) : NaN)) as [number, number, number];
  if (!(n >= 2 && n <= MAX_N && (n & (n - 1)) === 0)) return null;
  if (!(r >= 1 && r <= MAX_R && p >= 1 && p <= MAX_P) || 128 * n * r > MAX_MEM) return null;
  const [salt, key] = [parts[4] ?? '', parts[5] ?? ''];
  if (!BASE64.test(salt) || !BASE64.test(key)) return null;
  const saltBytes = Buffer.from(salt, 'base64');
  const keyBytes = Buffer.from(key, 'base64');
  if (saltBytes.length < 8 || saltBytes.length > 64 || keyBytes.length < 16 || keyBytes.length > 64) return null;
  return { N: n, r, p, salt: saltBytes, key: keyBytes };
}

/** True when the password matches; false for a wrong password and for any malformed hash. Never rejects. */
export function verifyPassword(password: string | Uint8Array, hash: string): Promise<boolean> {
  const parsed = parseHash(hash);
  if (parsed === null) return Promise.resolve(false);
  const options = { N: parsed.N, r: parsed.r, p: parsed.p, maxmem: 2 * MAX_MEM };
  return new Promise((resolve) => {
    scrypt(password, parsed.salt, parsed.key.length, options, (err, derived) => {
      resolve(err === null && timingSafeEqual(derived, parsed.key));
    });
  });
}
