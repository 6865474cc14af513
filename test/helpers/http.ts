// One JSON request to a daemon's HTTP API with its bearer token; the body parsed when it is JSON.
import { createHmac } from 'node:crypto';

/** The API token of every gateway a test starts. */
export const TOKEN = 'test-token-0123456789abcdef';

export async function requestJson(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: string,
  timeoutMs = 10_000,
): Promise<{ status: number; headers: Headers; body: any }> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) init.body = body;
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** `X-Hub-Signature-256` as a webhook sender computes it: HMAC-SHA256 of the raw body with the shared secret. */
export function hmacSignature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
