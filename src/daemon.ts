// The composition root (STYLE.md §3): builds every component from the config, wires
// sources → matcher → engine → store, starts them in order and stops them in reverse.
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { GatewayConfig } from './config/config.js';
import { systemClock, type Clock } from './engine/clock.js';
import { Engine } from './engine/engine.js';
import type { ActionResult } from './engine/types.js';
import type { GatewayEvent } from './events.js';
import { createExecutors } from './executors/index.js';
import { HttpApi } from './http/server.js';
import { httpMetricsText } from './http/stats.js';
import { loadOrCreateToken } from './http/token.js';
import type { Logger } from './log.js';
import { byLabel, renderMetrics, type Metric } from './daemon/metrics.js';
import { loadSopSet, type ReloadResult, type SopSet } from './daemon/sop-set.js';
import { IdleGc } from './daemon/idle-gc.js';
import { holdForStartup } from './daemon/startup-flags.js';
import { CronSource } from './sources/cron.js';
import { EmbeddedBroker } from './sources/mqtt/broker.js';
import { Checkpointer } from './store/checkpointer.js';
import { CronStateStore } from './store/cron-state.js';
import { IdempotencyStore } from './store/idempotency.js';
import { RunStore } from './store/run-store.js';
import { VERSION } from './version.js';
import { errorMessage } from './errors.js';

const LOOP_DELAY_RESOLUTION_MS = 10;

/**
 * Seconds late, from monitorEventLoopDelay's nanoseconds: it records the whole interval
 * between its timer's runs, so an idle loop reads as the resolution, not as zero.
 */
function lateness(ns: number): number {
  return Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS) / 1000;
}

export interface DaemonDeps {
  config: GatewayConfig;
  logger: Logger;
  clock?: Clock;
}

export interface Listening {
  http: { host: string; port: number };
  mqtt: { host: string; port: number } | null;
}

export class Daemon {
  private readonly config: GatewayConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private store!: RunStore;
  private checkpointer!: Checkpointer;
  private idleGc: IdleGc | null = null;
  private engine!: Engine;
  private http!: HttpApi;
  private broker: EmbeddedBroker | null = null;
  private cron!: CronSource;
  private set!: SopSet;
  private readonly startedAt: number;
  /** How late timers and I/O callbacks run: what a stall costs every client. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  private readonly events = new Map<string, number>();
  private matches = 0;
  private stopped: Promise<void> | null = null;
  /** The last reload asked for: the next one waits for it. */
  private reloads: Promise<unknown> = Promise.resolve();

  constructor(deps: DaemonDeps) {
    this.config = deps.config;
    this.log = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.startedAt = this.clock.now();
  }

  async start(): Promise<Listening> {
    const c = this.config;
    const log = this.log.child('daemon');
    const releaseStartupFlags = holdForStartup();
    this.set = await loadSopSet(c, this.log.child('sops'));
    const dbFile = join(c.state_dir, 'sopgate.db');
    this.store = RunStore.open(dbFile, { synchronous: c.store.synchronous, maxLedgerEntries: c.engine.max_ledger_entries });
    this.checkpointer = new Checkpointer(this.store.db, dbFile, this.log.child('store'), { hold: () => this.engine.holdCommits() });
    const deps = { clock: this.clock, logger: this.log };
    this.engine = new Engine({
      store: this.store,
      clock: this.clock,
      logger: this.log,
      executors: createExecutors(deps, {
        mqttPublish: (topic, payload, options) =>
          this.broker === null ? Promise.reject(new Error('the embedded broker is disabled ([mqtt] listen = "")')) : this.broker.publish(topic, payload, options),
      }),
      maxConcurrentTotal: c.engine.max_concurrent_total,
      approvalTimeoutSecs: c.engine.approval_timeout_secs,
      maxFinishedRuns: c.engine.max_finished_runs,
    });
    this.engine.setSops(this.set.sops);
    const runLog = this.log.child('run');
    this.engine.onEvent((e) => {
      // Starts and hand-offs at debug: a busy gateway logs one line per run, when it ends or waits.
      const level = e.kind === 'failed' ? 'warn' : e.kind === 'started' || e.kind === 'step' ? 'debug' : 'info';
      if (runLog.enabled(level)) {
        runLog.log(level, `${e.run.sop_name} ${e.run.run_id} ${e.kind}${e.kind === 'step' ? ` ${e.run.current_step}/${e.run.total_steps}` : ''}${e.run.reason === null ? '' : `: ${e.run.reason}`}`);
      }
      this.broker?.publishRunEvent(e);
    });
    this.engine.onExternalStepEnded((runId) => this.broker?.externalStepEnded(runId));
    this.engine.start();

    const token = await loadOrCreateToken(c);
    this.http = new HttpApi({
      engine: this.engine,
      sops: () => this.set.sops,
      matcher: () => this.set.matcher,
      http: c.http,
      token,
      idempotency: new IdempotencyStore(this.store.db, this.clock),
      clock: this.clock,
      logger: this.log.child('http'),
      metrics: () => this.metrics(),
      reload: () => this.reload(),
    });
    const http = await this.http.start(c.http.listen);

    let mqtt: Listening['mqtt'] = null;
    if (c.mqtt.listen !== '') {
      this.broker = new EmbeddedBroker({
        listen: c.mqtt.listen,
        eventPrefix: c.mqtt.event_prefix,
        maxPacketBytes: c.mqtt.max_packet_bytes,
        maxConnections: c.mqtt.max_connections,
        users: c.mqtt.users,
        logger: this.log.child('mqtt'),
        onEvent: (event) => this.dispatch(event),
        onResult: (runId, result) => this.fromMqtt('result', runId, this.engine.advance(runId, result, 'mqtt')),
        onCommand: (runId, command) =>
          this.fromMqtt(command, runId, command === 'approve' ? this.engine.approve(runId, 'mqtt') : this.engine.cancel(runId, 'mqtt')),
      });
      mqtt = await this.broker.start();
      // Step contexts are retained in memory: after a restart, those of restored runs again.
      for (const event of this.engine.pendingExternalSteps()) this.broker.publishRunEvent(event);
    }

    this.cron = new CronSource({
      sops: this.set.sops,
      timezone: c.cron.timezone,
      clock: this.clock,
      state: new CronStateStore(this.store.db),
      catchUp: c.cron.catch_up,
      logger: this.log.child('cron'),
      onEvent: (event) => this.dispatch(event),
    });
    this.cron.start();
    this.loopDelay.enable();

    this.checkpointer.startWhenBusy(() => this.stateChanges());
    this.idleGc = new IdleGc({ activity: () => this.stateChanges() + this.eventsReceived(), logger: this.log.child('daemon') });
    this.idleGc.start();
    // After everything listens: the parse cache's write need not delay the gateway's start.
    setImmediate(() => this.set.saveCache());
    releaseStartupFlags();
    log.log(
      'info',
      `sopgate ${VERSION} ready: HTTP on ${http.host}:${http.port}, ${mqtt === null ? 'embedded broker disabled' : `MQTT on ${mqtt.host}:${mqtt.port}`}, ` +
        `${this.set.sops.length} SOP(s) loaded${this.set.broken > 0 ? `, ${this.set.broken} left out (errors above)` : ''}, state in ${c.state_dir}`,
    );
    return { http, mqtt };
  }

  /** Stops in reverse order; safe to call twice. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const log = this.log.child('daemon');
      log.log('info', 'stopping');
      this.loopDelay.disable();
      this.idleGc?.stop();
      this.cron?.stop();
      await this.broker?.stop().catch((err: unknown) => log.log('error', `broker stop: ${String(err)}`));
      await this.http?.stop().catch((err: unknown) => log.log('error', `http stop: ${String(err)}`));
      this.engine?.stop();
      await this.checkpointer?.stop();
      this.store?.close();
      log.log('info', 'stopped');
    })();
    return this.stopped;
  }

  /**
   * Loads the SOP folder again; the new set replaces the old only if the folder can be read.
   * Reloads run one after the other, in the order asked: a load lets the event loop run
   * between SOPs, and two interleaved loads could otherwise leave the older set in place.
   */
  reload(): Promise<ReloadResult> {
    const next = this.reloads.then(() => this.reloadNow());
    this.reloads = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(): Promise<ReloadResult> {
    const log = this.log.child('daemon');
    let next: SopSet;
    try {
      next = await loadSopSet(this.config, this.log.child('sops'));
    } catch (err) {
      const message = `reload failed, keeping the ${this.set.sops.length} SOP(s) already loaded: ${errorMessage(err)}`;
      log.log('error', message);
      return { ok: false, loaded: this.set.sops.length, errors: this.set.broken, message };
    }
    // Stopped while loading: the stopped engine and cron must not take up a new set.
    if (this.stopped !== null) return { ok: false, loaded: this.set.sops.length, errors: this.set.broken, message: 'the gateway is stopping' };
    this.set = next;
    next.saveCache();
    this.engine.setSops(next.sops);
    this.cron.update(next.sops);
    log.log('info', `reloaded: ${next.sops.length} SOP(s)${next.broken > 0 ? `, ${next.broken} left out` : ''}`);
    return { ok: true, loaded: next.sops.length, errors: next.broken };
  }

  /** An MQTT client's command has no one to answer: a refusal is logged. */
  private fromMqtt(what: string, runId: string, outcome: Promise<ActionResult>): void {
    const log = this.log.child('mqtt');
    outcome.then(
      (r) => {
        if (!r.ok) log.log('warn', `${what} for run ${runId} refused: ${r.message}`);
      },
      (err: unknown) => log.log('error', `${what} for run ${runId}: ${errorMessage(err)}`),
    );
  }

  /** Run starts and finished steps so far: how busy the database has been. */
  private stateChanges(): number {
    const s = this.engine.stats();
    return s.runsStarted + Object.values(s.steps).reduce((n, t) => n + t.count, 0);
  }

  private eventsReceived(): number {
    let n = 0;
    for (const count of this.events.values()) n += count;
    return n;
  }

  /** Every source hands its events here: match once, start every matched SOP. */
  private dispatch(event: GatewayEvent): void {
    this.events.set(event.source, (this.events.get(event.source) ?? 0) + 1);
    const names = this.set.matcher.match(event);
    this.matches += names.length;
    for (const name of names) {
      this.engine.startRun(name, event).catch((err: unknown) => {
        this.log.child('engine').log('error', `cannot start ${name}: ${errorMessage(err)}`);
      });
    }
  }

  private metrics(): string {
    const stats = this.engine.stats();
    const sync = this.store.sync?.takeStats() ?? { syncs: 0, seconds: 0, maxSeconds: 0 };
    const metrics: Metric[] = [
      { name: 'sopgate_events_total', help: 'Events received, by source.', type: 'counter', samples: byLabel('source', this.events) },
      { name: 'sopgate_matches_total', help: 'SOP matches (runs asked for).', type: 'counter', samples: [{ value: this.matches }] },
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
      { name: 'sopgate_store_commits_total', help: 'Transactions written to the database (one holds every state change of one event-loop turn).', type: 'counter', samples: [{ value: stats.commits }] },
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
      { name: 'sopgate_broker_clients', help: 'Clients connected to the embedded broker.', type: 'gauge', samples: [{ value: this.broker?.clients() ?? 0 }] },
      { name: 'sopgate_sops_loaded', help: 'SOPs loaded (without errors).', type: 'gauge', samples: [{ value: this.set.sops.length }] },
      {
        name: 'sopgate_event_loop_delay_seconds',
        help: 'Event loop delay since the last scrape: quantiles and max (timers and sockets wait this long).',
        type: 'gauge',
        samples: [
          { labels: { quantile: '0.5' }, value: lateness(this.loopDelay.percentile(50)) },
          { labels: { quantile: '0.99' }, value: lateness(this.loopDelay.percentile(99)) },
          { labels: { quantile: '1' }, value: lateness(this.loopDelay.max) },
        ],
      },
      { name: 'sopgate_uptime_seconds', help: 'Seconds since the daemon started.', type: 'gauge', samples: [{ value: (this.clock.now() - this.startedAt) / 1000 }] },
    ];
    this.loopDelay.reset();
    return renderMetrics(metrics) + httpMetricsText(this.http.stats());
  }
}
