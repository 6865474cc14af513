// Requests counted by route and status, for /metrics: a route label is the pattern, not
// the path, so run ids and webhook paths do not blow up the number of series.

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

/** The stats as Prometheus text exposition lines. */
export function httpMetricsText(stats: HttpStats): string {
  const lines = [
    '# HELP sopgate_http_requests_total HTTP requests by route and status.',
    '# TYPE sopgate_http_requests_total counter',
    ...stats.requests.map((r) => `sopgate_http_requests_total{route="${escapeLabel(r.route)}",status="${r.status}"} ${r.count}`),
    '# HELP sopgate_http_rate_limited_total Requests refused by the per-client rate limit.',
    '# TYPE sopgate_http_rate_limited_total counter',
    `sopgate_http_rate_limited_total ${stats.rateLimited}`,
    '# HELP sopgate_http_webhook_duplicates_total Webhook deliveries answered from an idempotency key.',
    '# TYPE sopgate_http_webhook_duplicates_total counter',
    `sopgate_http_webhook_duplicates_total ${stats.duplicates}`,
  ];
  return `${lines.join('\n')}\n`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
