// Per-client rate limit: a token bucket per address that holds `perMinute` requests and
// refills continuously, so a client may burst up to the limit but not exceed it on
// average. 0 = unlimited. Time comes from the injected clock.
import type { Clock } from '../core/clock.js';

interface Bucket {
  tokens: number;
  at: number;
}

export type RateDecision = { ok: true } | { ok: false; retryAfterSecs: number };

export class RateLimiter {
  private readonly perMinute: number;
  private readonly clock: Clock;
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;

  constructor(perMinute: number, clock: Clock) {
    this.perMinute = perMinute;
    this.clock = clock;
    this.lastSweep = clock.now();
  }

  take(client: string): RateDecision {
    if (this.perMinute <= 0) return { ok: true };
    const now = this.clock.now();
    this.sweep(now);
    const perMs = this.perMinute / 60_000;
    const bucket = this.buckets.get(client) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSecs: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
  }

  get clients(): number {
    return this.buckets.size;
  }

  /** Forgets clients whose bucket has refilled, at most once a minute, so memory stays bounded. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [client, bucket] of this.buckets) {
      if (now - bucket.at >= 60_000) this.buckets.delete(client);
    }
  }
}
