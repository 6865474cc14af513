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

/** The hex digest of GitHub's `X-Hub-Signature-256: sha256=<hex>`, or null when the header is not that. */
export function signatureOf(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  return m === null ? null : m[1]!.toLowerCase();
}

/** `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the shared secret. */
export function hmacOk(header: string | string[] | undefined, secret: string, raw: Buffer): boolean {
  const signature = signatureOf(header);
  if (signature === null || secret === '') return false;
  return safeEqual(signature, createHmac('sha256', secret).update(raw).digest('hex'));
}

