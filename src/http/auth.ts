// Credentials compared in constant time: both sides are hashed first, so
// timingSafeEqual always sees equal lengths and the time says nothing about the secret.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 7235 §2.1). */
export function bearerOk(header: string | undefined, token: string): boolean {
  if (header === undefined || token === '') return false;
  const m = /^bearer +(\S+) *$/i.exec(header);
  return m !== null && safeEqual(m[1]!, token);
}

/** `X-Webhook-Secret: <secret>`. An empty configured secret authorises nothing. */
export function secretOk(header: string | string[] | undefined, secret: string): boolean {
  return typeof header === 'string' && secret !== '' && safeEqual(header, secret);
}

/** GitHub's `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body with the shared secret. */
export function hmacOk(header: string | string[] | undefined, secret: string, raw: Buffer): boolean {
  if (typeof header !== 'string' || secret === '') return false;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (m === null) return false;
  const expected = createHmac('sha256', secret).update(raw).digest('hex');
  return safeEqual(m[1]!.toLowerCase(), expected);
}

export function hmacSignature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
