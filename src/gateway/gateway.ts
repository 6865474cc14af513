// The composition root, the one place that builds components (there are no singletons):
// builds every component from the config, wires sources → matcher → engine → store,
// starts them in order and stops them in reverse.
import { join } from 'node:path';
import { loadBoardProfiles, type BoardProfile } from '../config/board-profile.js';
import type { GatewayConfig } from '../config/config.js';
import { systemClock, type Clock } from '../core/clock.js';
import { Engine } from '../engine/engine.js';
import type { ActionResult } from '../engine/types.js';
import type { GatewayEvent } from '../core/events.js';
import { createExecutors } from '../executors/index.js';
import { HttpApi, httpMetrics, loadOrCreateToken } from '../http/index.js';
import type { Logger } from '../core/log.js';
import { renderMetrics } from '../core/prometheus.js';
import { gatewayMetrics, LoopDelay } from './metrics.js';
import { brokerMetrics } from '../sources/mqtt/metrics.js';
import { loadSopSet, type ReloadResult, type SopSet } from './sop-set.js';
import { approvalButton } from './approval-button.js';
import { Hardware, type HardwareDeps } from './hardware.js';
import { IdleGc } from './idle-gc.js';
import { InboundGate } from './inbound-gate.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { CronSource } from '../sources/cron.js';
import { EmbeddedBroker, type CommandSender } from '../sources/mqtt/broker.js';
import type { Upstream } from '../sources/upstream/upstream.js';
import { OutboxStore } from '../store/outbox.js';
import { Checkpointer } from '../store/checkpointer.js';
import { CronStateStore } from '../store/cron-state.js';
import { IdempotencyStore } from '../store/idempotency.js';
import { RunStore, type RunStoreOptions } from '../store/run-store.js';
import { StateLock } from '../store/state-lock.js';
import { VERSION } from '../core/version.js';
import { errorMessage } from '../core/errors.js';
import { escapeControls, excerpt } from '../core/text.js';

/** A run's reason in its journal line: a few hundred bytes, however much a step printed. */
const LOGGED_REASON_BYTES = 300;

/** Who sent an MQTT command, for the ledger: `user "alice", client id "agent-1"`. */
function senderText(sender: CommandSender): string {
  const client = `client id ${JSON.stringify(sender.clientId)}`;
  return sender.username === null ? client : `user ${JSON.stringify(sender.username)}, ${client}`;
}

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  clock?: Clock;
  /** How the boards reach GPIO tools and serial ports (tests point them at fakes). */
  hardware?: Pick<HardwareDeps, 'gpiod' | 'sysfs' | 'openDevice'>;
  /** Opens the state database: RunStore.open, or in a test one whose fdatasyncs it holds. */
  openStore?: (file: string, options: RunStoreOptions) => RunStore;
}

export interface Listening {
  http: { host: string; port: number };
  mqtt: { host: string; port: number } | null;
}

export class Gateway {
  private readonly config: GatewayConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly openStore: (file: string, options: RunStoreOptions) => RunStore;
  private lock: StateLock | null = null;
  /** Requests and MQTT messages wait here until the active runs are restored. */
  private readonly inbound = new InboundGate();
  private store!: RunStore;
  private checkpointer!: Checkpointer;
  private idleGc: IdleGc | null = null;
  private engine!: Engine;
  private http!: HttpApi;
  private broker: EmbeddedBroker | null = null;
  private upstream: Upstream | null = null;
  private cron!: CronSource;
  private hardware: Hardware | null = null;
  private boards: BoardProfile[] = [];
  private set!: SopSet;
  private readonly startedAt: number;
  /** How late timers and I/O callbacks run: what a stall costs every client. */
  private readonly loopDelay = new LoopDelay();
  private dispatcher!: Dispatcher;
  private stopped: Promise<void> | null = null;
  /** The last reload asked for: the next one waits for it. */
  private reloads: Promise<unknown> = Promise.resolve();

  private readonly hardwareOptions: GatewayDeps['hardware'];

  constructor(deps: GatewayDeps) {
    this.config = deps.config;
    this.hardwareOptions = deps.hardware;
    this.log = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.openStore = deps.openStore ?? ((file, options) => RunStore.open(file, options));
    this.startedAt = this.clock.now();
  }

  async start(): Promise<Listening> {
    const c = this.config;
    const log = this.log.child('daemon');
    // Before anything in state_dir is read or written: a second daemon stops here.
    const locked = StateLock.take(c.state_dir);
    if (!locked.ok) throw new Error(locked.message);
    this.lock = locked.lock;
    const profiles = await loadBoardProfiles(c.boards, c.workspace);
    this.boards = profiles.boards;
    this.set = await loadSopSet(c, this.log.child('sops'), this.boards);
    const dbFile = join(c.state_dir, 'sopgate.db');
    this.store = this.openStore(dbFile, {
      synchronous: c.store.synchronous,
      maxLedgerEntries: c.engine.max_ledger_entries,
    });
    this.checkpointer = new Checkpointer(this.store.db, dbFile, this.log.child('store'), { hold: () => this.engine.holdCommits() });
    const deps = { clock: this.clock, logger: this.log };
    // With an upstream, every run event also goes into the outbox, in its change's transaction.
    const outbox = c.upstream.url === '' ? null : new OutboxStore(this.store.db, c.upstream.outbox_max_messages);
    this.engine = new Engine({
      store: this.store,
      clock: this.clock,
      logger: this.log,
      executors: createExecutors(deps, {
        mqttPublish: (topic, payload, options) => this.publish(topic, payload, options),
        gpio: (signal) => this.hardware?.gpioOutput(signal),
        serial: (signal) => this.hardware?.serialPort(signal),
      }),
      maxConcurrentTotal: c.engine.max_concurrent_total,
      approvalTimeoutSecs: c.engine.approval_timeout_secs,
      ...(outbox === null ? {} : { outbox }),
    });
    this.engine.setSops(this.set.sops);
    const runLog = this.log.child('run');
    this.engine.onEvent((e) => {
      // Starts and hand-offs at debug: a busy gateway logs one line per run, when it ends or waits.
      const level = e.kind === 'failed' ? 'warn' : e.kind === 'started' || e.kind === 'step' ? 'debug' : 'info';
      if (runLog.enabled(level)) {
        // The reason quotes a step's output: escaped first, so its escapes count toward the cut.
        const reason = e.run.reason === null ? '' : `: ${excerpt(escapeControls(e.run.reason), LOGGED_REASON_BYTES)}`;
        runLog.log(level, `${e.run.sop_name} ${e.run.run_id} ${e.kind}${e.kind === 'step' ? ` ${e.run.current_step}/${e.run.total_steps}` : ''}${reason}`);
      }
      this.broker?.publishRunEvent(e);
    });
    this.engine.onExternalStepEnded((runId) => this.broker?.externalStepEnded(runId));
    this.dispatcher = new Dispatcher({ matcher: () => this.set.matcher, engine: this.engine, logger: this.log.child('engine') });
    // Held at the gate until the runs are restored.
    const dispatch = (event: GatewayEvent) => this.inbound.pass(() => this.dispatcher.dispatch(event));
    const approvePress = approvalButton(this.engine, this.log.child('gpio'));
    const hardware = new Hardware({
      profiles,
      clock: this.clock,
      logger: this.log,
      onEvent: dispatch,
      onApprovePress: (board, signal, sop) => this.inbound.pass(() => approvePress(board, signal, sop)),
      ...this.hardwareOptions,
    });
    this.hardware = hardware;
    this.engine.onWaitingCount((count) => hardware.setWaitingApprovals(count));

    const token = await loadOrCreateToken(c);
    this.http = new HttpApi({
      engine: this.engine,
      sops: () => this.set.sops,
      dispatcher: this.dispatcher,
      http: c.http,
      token,
      idempotency: new IdempotencyStore(this.store.db, this.clock),
      clock: this.clock,
      logger: this.log.child('http'),
      metrics: () => this.metrics(),
      status: () => ({ cron: this.cron?.schedules() ?? [], ...(this.upstream === null ? {} : { upstream: this.upstream.status() }) }),
      peripherals: hardware,
      reload: () => this.reload(),
      gate: (handle, drop) => this.inbound.pass(handle, drop),
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
        limits: c.mqtt,
        logger: this.log.child('mqtt'),
        onEvent: (event) => {
          this.upstream?.forward(event.topic ?? '', event.payload ?? '');
          dispatch(event);
        },
        // A client's next packets wait while the engine's writes are behind.
        whenReady: (readMore) => this.engine.whenCaughtUp(readMore),
        onResult: (runId, result, sender) => this.inbound.pass(() => this.fromMqtt('result', runId, this.engine.advance(runId, result, 'mqtt', senderText(sender)))),
        onCommand: (runId, command, sender) =>
          this.inbound.pass(() => {
            const by = senderText(sender);
            this.fromMqtt(command, runId, command === 'approve' ? this.engine.approve(runId, 'mqtt', by) : this.engine.cancel(runId, 'mqtt', by));
          }),
      });
      mqtt = await this.broker.start();
    }
    // Before the runs come back: a restored gpio_write or serial_write step finds its line.
    await hardware.start();
    if (outbox !== null) {
      // Loaded only when configured: a gateway without an upstream does not load the MQTT client.
      const { createUpstream } = await import('./upstream.js');
      this.upstream = createUpstream({
        config: c.upstream,
        maxPacketBytes: c.mqtt.max_packet_bytes,
        outbox,
        engine: this.engine,
        dispatcher: this.dispatcher,
        sops: () => this.set.sops,
        clock: this.clock,
        logger: this.log.child('upstream'),
        startedAt: this.startedAt,
        dispatch,
        gate: (handle) => this.inbound.pass(handle),
      });
      this.upstream.start();
    }

    // Every port is bound: a port in use has failed start-up before any run was restored
    // or any step run again. Now the runs come back, then what waited at the gate.
    this.engine.start();
    // Step contexts are retained in memory: after a restart, those of restored runs again
    // (before a result that waited at the gate can end one).
    if (this.broker !== null) for (const event of this.engine.pendingExternalSteps()) this.broker.publishRunEvent(event);
    this.inbound.open();

    this.cron = new CronSource({
      sops: this.set.sops,
      timezone: c.cron.timezone,
      clock: this.clock,
      state: new CronStateStore(this.store.db),
      catchUp: c.cron.catch_up,
      logger: this.log.child('cron'),
      onEvent: dispatch,
    });
    this.cron.start();
    this.loopDelay.enable();

    this.checkpointer.startWhenBusy(() => this.stateChanges(), this.clock);
    this.idleGc = new IdleGc({ activity: () => this.stateChanges() + this.dispatcher.eventsTotal(), logger: this.log.child('daemon') });
    this.idleGc.start();
    // After everything listens: the parse cache's write need not delay the gateway's start.
    setImmediate(() => this.set.saveCache());
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
      this.inbound.close();
      this.loopDelay.disable();
      this.idleGc?.stop();
      this.cron?.stop();
      await this.upstream?.stop().catch((err: unknown) => log.log('error', `upstream stop: ${String(err)}`));
      await this.broker?.stop().catch((err: unknown) => log.log('error', `broker stop: ${String(err)}`));
      await this.http?.stop().catch((err: unknown) => log.log('error', `http stop: ${String(err)}`));
      this.engine?.stop();
      // After the engine, as they started before it: a step the boards are in the middle of
      // (a pulse) is not failed by its board going away; it runs again at the next start.
      await this.hardware?.stop().catch((err: unknown) => log.log('error', `hardware stop: ${String(err)}`));
      await this.checkpointer?.stop();
      this.store?.close();
      this.lock?.release();
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
      next = await loadSopSet(this.config, this.log.child('sops'), this.boards);
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
    this.upstream?.birthChanged();
    log.log('info', `reloaded: ${next.sops.length} SOP(s)${next.broken > 0 ? `, ${next.broken} left out` : ''}`);
    return { ok: true, loaded: next.sops.length, errors: next.broken };
  }

  /** The mqtt_publish tool: through the embedded broker, else (attach mode) the upstream connection. */
  private publish(topic: string, payload: string, options: { qos: 0 | 1 | 2; retain: boolean }): Promise<void> {
    if (this.broker !== null) return this.broker.publish(topic, payload, options);
    if (this.upstream !== null) return this.upstream.publish(topic, payload, options);
    return Promise.reject(new Error('the embedded broker is disabled ([mqtt] listen = "")'));
  }

  /** An MQTT client's command has no one to answer: a refusal is logged. */
  private fromMqtt(what: string, runId: string, outcome: Promise<ActionResult>): void {
    const log = this.log.child('mqtt');
    outcome.then(
      (r) => {
        // While the database cannot be written every command is refused; that is logged once, by the store.
        if (!r.ok) log.log(r.reason === 'storage_unavailable' ? 'debug' : 'warn', `${what} for run ${runId} refused: ${r.message}`);
      },
      (err: unknown) => log.log('error', `${what} for run ${runId}: ${errorMessage(err)}`),
    );
  }

  /** Run starts and finished steps so far: how busy the database has been. */
  private stateChanges(): number {
    const s = this.engine.stats();
    return s.runsStarted + Object.values(s.steps).reduce((n, t) => n + t.count, 0);
  }

  private metrics(): string {
    const gateway = gatewayMetrics({
      engine: this.engine.stats(),
      sync: this.store.sync?.takeStats() ?? { syncs: 0, seconds: 0, maxSeconds: 0 },
      events: this.dispatcher.events,
      matches: this.dispatcher.matches,
      broker: brokerMetrics(this.broker?.clients() ?? 0, this.broker?.stats() ?? null),
      sopsLoaded: this.set.sops.length,
      loopDelay: this.loopDelay.take(),
      uptimeSeconds: (this.clock.now() - this.startedAt) / 1000,
    });
    return renderMetrics([...gateway, ...(this.hardware?.metrics() ?? []), ...(this.upstream?.metrics() ?? []), ...httpMetrics(this.http.stats())]);
  }

}
