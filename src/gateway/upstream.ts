// The upstream connection as the gateway wires it: the birth message tells the version and
// the SOPs loaded; messages on `subscribe` go to the one dispatcher; commands from the
// centre follow the same rules as local ones: approve, cancel and an external step's result
// go to the engine as the actor `upstream`, execute is a `manual` event through the
// dispatcher like POST /api/sops/<name>/execute. Nobody waits for an answer, so every
// refusal is logged, and a refused execute is in the ledger.
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { GatewayEvent } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { isoTime } from '../core/time.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Engine } from '../engine/engine.js';
import type { ActionResult, StartResult } from '../engine/types.js';
import type { SopDefinition } from '../sop/types.js';
import { Upstream, type UpstreamRequest } from '../sources/upstream/upstream.js';
import type { UpstreamConfig } from '../config/upstream.js';
import type { OutboxStore } from '../store/outbox.js';
import { VERSION } from '../core/version.js';

export interface UpstreamCommandDeps {
  engine: Pick<Engine, 'approve' | 'cancel' | 'advance' | 'refuse'>;
  dispatcher: Pick<Dispatcher, 'dispatchAndWait'>;
  sops: () => readonly SopDefinition[];
  clock: Clock;
  logger: Logger;
}

export interface GatewayUpstreamDeps extends UpstreamCommandDeps {
  config: UpstreamConfig;
  maxPacketBytes: number;
  outbox: OutboxStore;
  /** When the gateway started (ms), for the birth message. */
  startedAt: number;
  dispatch: (event: GatewayEvent) => void;
  /** The gateway's inbound gate: commands wait there until the active runs are restored. */
  gate: (handle: () => void) => void;
}

export function createUpstream(d: GatewayUpstreamDeps): Upstream {
  const commands = upstreamCommands(d);
  return new Upstream({
    config: d.config,
    maxPacketBytes: d.maxPacketBytes,
    outbox: d.outbox,
    clock: d.clock,
    logger: d.logger,
    birth: () => ({ version: VERSION, sops: d.sops().map((s) => s.name), started_at: isoTime(d.startedAt) }),
    onEvent: d.dispatch,
    // Acknowledged once handled; one the gate drops at a failed start-up never is, so the broker delivers it again.
    onCommand: (request) => new Promise((resolve) => d.gate(() => void commands(request).then(resolve))),
  });
}

/** The handler the upstream source calls; it resolves once the command is durable or its refusal logged. */
export function upstreamCommands(d: UpstreamCommandDeps): (request: UpstreamRequest) => Promise<void> {
  const log = d.logger;
  const acted = (what: string, runId: string, r: ActionResult) => {
    if (r.ok) log.log('info', `${what} for run ${runId} from upstream: ${r.run.status}`);
    // While the database cannot be written every command is refused; that is logged once, by the store.
    else log.log(r.reason === 'storage_unavailable' ? 'debug' : 'warn', `${what} for run ${runId} from upstream refused: ${r.message}`);
  };
  const started = (name: string, r: StartResult) => {
    if (r.ok) log.log('info', `execute ${name} from upstream: run ${r.run.run_id} ${r.run.status}`);
    else log.log(r.reason === 'storage_unavailable' ? 'debug' : 'warn', `execute ${name} from upstream refused: ${r.message}`);
  };
  const execute = async (name: string, payload: string): Promise<void> => {
    const sop = d.sops().find((s) => s.name === name);
    if (sop === undefined || !sop.triggers.some((t) => t.type === 'manual')) {
      const [reason, message] =
        sop === undefined ? (['unknown_sop', `no SOP named "${name}" is loaded`] as const) : (['no_manual_trigger', `${name} declares no manual trigger`] as const);
      d.engine.refuse(name, reason, `${message} (execute from upstream)`);
      log.log('warn', `execute ${name} from upstream refused: ${message}`);
      return;
    }
    const event: GatewayEvent = { source: 'manual', topic: name, timestamp: isoTime(d.clock.now()) };
    if (payload !== '') event.payload = payload;
    const { results } = await d.dispatcher.dispatchAndWait(event, 'upstream');
    const first = results[0];
    if (first === undefined) log.log('warn', `execute ${name} from upstream refused: no SOP named "${name}" is loaded`);
    else started(name, first);
  };
  return async (r) => {
    try {
      switch (r.kind) {
        case 'approve':
          return acted('approve', r.runId, await d.engine.approve(r.runId, 'upstream'));
        case 'cancel':
          return acted('cancel', r.runId, await d.engine.cancel(r.runId, 'upstream'));
        case 'result':
          return acted('result', r.runId, await d.engine.advance(r.runId, r.result, 'upstream'));
        case 'execute':
          return await execute(r.sop, r.payload);
      }
    } catch (err) {
      log.log('error', `${r.kind} from upstream failed: ${errorMessage(err)}`);
    }
  };
}
