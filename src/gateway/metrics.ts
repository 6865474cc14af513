// What GET /metrics shows of the gateway itself (the engine, the store, the dispatcher, the
// broker, the event loop); the HTTP API, the boards and the upstream add their own.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { byLabel, type Metric } from '../core/prometheus.js';
import type { EventSource } from '../core/events.js';
import type { EngineStats } from '../engine/engine.js';
import type { SyncStats } from '../store/wal-sync.js';

const LOOP_DELAY_RESOLUTION_MS = 10;

/**
 * Seconds late, from monitorEventLoopDelay's nanoseconds: it records the whole interval
 * between its timer's runs, so an idle loop reads as the resolution, not as zero.
 */
function lateness(ns: number): number {
  return Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS) / 1000;
}

/** The event loop's delay, sampled while the gateway runs and started over at each scrape. */
export class LoopDelay {
  private readonly histogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });

  enable(): void {
    this.histogram.enable();
  }

  disable(): void {
    this.histogram.disable();
  }

  /** The quantiles since the previous call, which starts them over. */
  take(): Metric[] {
    const metrics: Metric[] = [
      {
        name: 'sopgate_event_loop_delay_seconds',
        help: 'Event loop delay since the last scrape: quantiles and max (timers and sockets wait this long).',
        type: 'gauge',
        samples: [
          { labels: { quantile: '0.5' }, value: lateness(this.histogram.percentile(50)) },
          { labels: { quantile: '0.99' }, value: lateness(this.histogram.percentile(99)) },
          { labels: { quantile: '1' }, value: lateness(this.histogram.max) },
        ],
      },
      {
        name: 'sopgate_event_loop_delay_samples',
        help: 'Event loop delay samples (one per 10 ms) since the last scrape, behind the quantiles: at 0 they say nothing.',
        type: 'gauge',
        samples: [{ value: this.histogram.count }],
      },
    ];
    this.histogram.reset();
    return metrics;
  }
}

export interface GatewayFigures {
  engine: EngineStats;
  sync: SyncStats;
  events: Map<EventSource, number>;
  matches: number;
  broker: Metric[];
  sopsLoaded: number;
  loopDelay: Metric[];
  uptimeSeconds: number;
}

export function gatewayMetrics(sources: GatewayFigures): Metric[] {
  const { engine: stats, sync, loopDelay } = sources;
  return [
    { name: 'sopgate_events_total', help: 'Events received, by source.', type: 'counter', samples: byLabel('source', sources.events) },
    { name: 'sopgate_matches_total', help: 'SOP matches (runs asked for).', type: 'counter', samples: [{ value: sources.matches }] },
    { name: 'sopgate_runs_started_total', help: 'Runs started.', type: 'counter', samples: [{ value: stats.runsStarted }] },
    { name: 'sopgate_runs_finished_total', help: 'Runs finished, by status.', type: 'counter', samples: byLabel('status', stats.runsFinished) },
    { name: 'sopgate_runs_active', help: 'Active runs, by status.', type: 'gauge', samples: byLabel('status', stats.activeByStatus) },
    { name: 'sopgate_refusals_total', help: 'Refused starts, by reason.', type: 'counter', samples: byLabel('reason', stats.refusals) },
    {
      name: 'sopgate_step_seconds_sum',
      help: 'Total duration of finished steps, by tool.',
      type: 'counter',
      samples: Object.entries(stats.steps).map(([tool, t]) => ({ labels: { tool }, value: t.seconds })),
    },
    {
      name: 'sopgate_step_seconds_count',
      help: 'Finished steps, by tool.',
      type: 'counter',
      samples: Object.entries(stats.steps).map(([tool, t]) => ({ labels: { tool }, value: t.count })),
    },
    {
      name: 'sopgate_storage_available',
      help: 'Whether the state database takes writes (0: degraded, state changes answer 503 until a retry succeeds).',
      type: 'gauge',
      samples: [{ value: stats.storage.available ? 1 : 0 }],
    },
    { name: 'sopgate_store_commits_total', help: 'Transactions written to the database (one holds every state change of one event-loop turn).', type: 'counter', samples: [{ value: stats.commits }] },
    { name: 'sopgate_store_backlog', help: 'State changes queued or written but not yet durable.', type: 'gauge', samples: [{ value: stats.backlog.size }] },
    {
      name: 'sopgate_store_backlog_full_total',
      help: 'Times the state changes not yet durable reached their bound: the broker stops reading publishers until they drain to half of it.',
      type: 'counter',
      samples: [{ value: stats.backlog.fills }],
    },
    {
      name: 'sopgate_store_syncs_total',
      help: 'fdatasyncs of the WAL with [store] synchronous = "full"; each covers every commit written before it began.',
      type: 'counter',
      samples: [{ value: sync.syncs }],
    },
    { name: 'sopgate_store_sync_seconds_sum', help: 'Total time the WAL fdatasyncs took.', type: 'counter', samples: [{ value: sync.seconds }] },
    {
      name: 'sopgate_store_sync_seconds_max',
      help: 'Slowest WAL fdatasync since the previous scrape: a disk or SD card that starts to fail shows here first.',
      type: 'gauge',
      samples: [{ value: sync.maxSeconds }],
    },
    ...sources.broker,
    { name: 'sopgate_sops_loaded', help: 'SOPs loaded (without errors).', type: 'gauge', samples: [{ value: sources.sopsLoaded }] },
    ...loopDelay,
    { name: 'sopgate_uptime_seconds', help: 'Seconds since the daemon started.', type: 'gauge', samples: [{ value: sources.uptimeSeconds }] },
  ];
}
