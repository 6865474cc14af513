// Requests counted by route and status, for /metrics: a route label is the pattern, not
// the path, so run ids and webhook paths do not blow up the number of series.
import type { Metric } from '../core/prometheus.js';

export interface RequestCount {
  route: string;
  status: number;
  count: number;
}

export interface HttpStats {
  requests: RequestCount[];
  rateLimited: number;
  duplicates: number;
}

export class HttpCounters {
  private readonly counts = new Map<string, RequestCount>();
  rateLimited = 0;
  duplicates = 0;

  count(route: string, status: number): void {
    const key = `${status} ${route}`;
    const entry = this.counts.get(key);
    if (entry === undefined) this.counts.set(key, { route, status, count: 1 });
    else entry.count++;
  }

  snapshot(): HttpStats {
    return {
      requests: [...this.counts.values()].map((c) => ({ ...c })),
      rateLimited: this.rateLimited,
      duplicates: this.duplicates,
    };
  }
}

/** The stats as metrics for GET /metrics. */
export function httpMetrics(stats: HttpStats): Metric[] {
  return [
    {
      name: 'sopgate_http_requests_total',
      help: 'HTTP requests by route and status.',
      type: 'counter',
      samples: stats.requests.map((r) => ({ labels: { route: r.route, status: String(r.status) }, value: r.count })),
    },
    { name: 'sopgate_http_rate_limited_total', help: 'Requests refused by the per-client rate limit.', type: 'counter', samples: [{ value: stats.rateLimited }] },
    {
      name: 'sopgate_http_webhook_duplicates_total',
      help: 'Webhook deliveries answered from an idempotency key.',
      type: 'counter',
      samples: [{ value: stats.duplicates }],
    },
  ];
}
