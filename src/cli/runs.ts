// `sopgate runs`, `runs show`, `execute`, `approve`, `advance`, `cancel`, `reload`,
// `status`: act on the running daemon through its HTTP API (docs/cli.md).
import type { Run } from '../core/run.js';
import type { LedgerEntry } from '../store/run-store.js';
import { apiClient, errorText, type ApiAnswer } from './client.js';
import { EXIT, printJson, table, UsageError, type CliIo } from './io.js';
import type { GlobalOptions } from './workspace.js';
import type { PeripheralSummary } from '../http/peripherals.js';
import type { UpstreamStatus } from '../sources/upstream/upstream.js';

type Options = GlobalOptions & { json?: boolean | undefined };

const STATUSES = ['running', 'waiting_approval', 'completed', 'failed', 'cancelled'];
const STEP_STATUSES = ['completed', 'failed', 'skipped'];

export async function runsCommand(io: CliIo, options: Options & { status?: string | undefined; sop?: string | undefined }): Promise<number> {
  if (options.status !== undefined && !STATUSES.includes(options.status)) {
    throw new UsageError(`unknown status "${options.status}" (expected one of ${STATUSES.join(', ')})`);
  }
  const query = new URLSearchParams();
  if (options.status !== undefined) query.set('status', options.status);
  if (options.sop !== undefined) query.set('sop', options.sop);
  const api = await apiClient(io, options);
  const answer = await api.request('GET', `/api/runs${query.size > 0 ? `?${query}` : ''}`);
  if (answer.status !== 200) return failed(io, answer);
  const runs = answer.body as Run[];
  if (options.json) printJson(io, runs);
  else if (runs.length === 0) io.out('no runs');
  else {
    io.out(
      table([
        ['RUN', 'SOP', 'STATUS', 'STEP', 'STARTED'],
        ...runs.map((r) => [r.run_id, r.sop_name, r.status, `${r.current_step}/${r.total_steps}`, r.started_at]),
      ]),
    );
  }
  return EXIT.ok;
}

export async function runShowCommand(io: CliIo, runId: string | undefined, options: Options): Promise<number> {
  if (runId === undefined) throw new UsageError('runs show needs a run id: sopgate runs show <run>');
  const api = await apiClient(io, options);
  const answer = await api.request('GET', `/api/runs/${encodeURIComponent(runId)}`);
  if (answer.status !== 200) return failed(io, answer);
  if (options.json) {
    printJson(io, answer.body);
    return EXIT.ok;
  }
  const ledger = await api.request('GET', `/api/ledger?run=${encodeURIComponent(runId)}`);
  const history = ledger.status === 200 && Array.isArray(ledger.body) ? (ledger.body as LedgerEntry[]) : [];
  io.out(describeRun(answer.body as Run, history));
  return EXIT.ok;
}

export async function executeCommand(io: CliIo, sop: string | undefined, options: Options & { payload?: string | undefined }): Promise<number> {
  if (sop === undefined) throw new UsageError('execute needs a SOP name: sopgate execute <sop> [--payload P]');
  const api = await apiClient(io, options);
  const answer = await api.request('POST', `/api/sops/${encodeURIComponent(sop)}/execute`, options.payload ?? '');
  return acted(io, answer, options, 201, (run) => `started run ${run.run_id} of ${run.sop_name}: ${run.status}`);
}

export async function runActionCommand(
  io: CliIo,
  action: 'approve' | 'cancel' | 'advance',
  runId: string | undefined,
  options: Options & { status?: string | undefined; output?: string | undefined },
): Promise<number> {
  if (runId === undefined) throw new UsageError(`${action} needs a run id: sopgate ${action} <run>`);
  let body: string | undefined;
  if (action === 'advance') {
    if (options.status === undefined || !STEP_STATUSES.includes(options.status)) {
      throw new UsageError(`advance needs --status ${STEP_STATUSES.join('|')}`);
    }
    body = JSON.stringify({ status: options.status, output: options.output ?? '' });
  }
  const api = await apiClient(io, options);
  const answer = await api.request('POST', `/api/runs/${encodeURIComponent(runId)}/${action}`, body);
  return acted(io, answer, options, 200, (run) => `run ${run.run_id}: ${run.status}, step ${run.current_step} of ${run.total_steps}`);
}

export async function simpleCommand(io: CliIo, what: 'reload' | 'status', options: Options): Promise<number> {
  const api = await apiClient(io, options);
  const answer = await api.request(what === 'reload' ? 'POST' : 'GET', `/api/${what}`);
  if (answer.status !== 200) return failed(io, answer);
  if (options.json || typeof answer.body !== 'object' || answer.body === null) {
    printJson(io, answer.body);
    return EXIT.ok;
  }
  const { peripherals, ...rest } = answer.body as { peripherals?: PeripheralSummary };
  const lines = Object.entries(rest).map(([k, v]) => `${k}: ${k === 'upstream' ? describeUpstream(v as UpstreamStatus) : typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  if (peripherals !== undefined) lines.push(...describePeripherals(peripherals));
  io.out(lines.join('\n'));
  return EXIT.ok;
}

/** The board signals in one line, then one line per signal that is down. */
function describePeripherals(p: PeripheralSummary): string[] {
  if (p.signals === 0) return ['signals: none (no board profiles in sopgate.toml)'];
  const head = `signals: ${p.signals}, ${p.up} up, ${p.down.length} down`;
  return [head, ...p.down.map((d) => `  down: ${d.board}/${d.signal} (${d.type}): ${d.error ?? 'no reason given'}`)];
}

function describeUpstream(u: UpstreamStatus): string {
  const state = u.connected ? 'connected' : `not connected${u.last_error === null ? '' : ` (${u.last_error})`}`;
  return `${state} to ${u.url} as ${u.gateway_id}${u.since === null ? '' : ` since ${u.since}`}; ` +
    `${u.outbox_messages} run event(s) waiting, ${u.sent_total} sent, ${u.dropped_total} dropped`;
}

function acted(io: CliIo, answer: ApiAnswer, options: Options, okStatus: number, line: (run: Run) => string): number {
  if (answer.status !== okStatus) return failed(io, answer);
  if (options.json) printJson(io, answer.body);
  else io.out(line(answer.body as Run));
  return EXIT.ok;
}

function failed(io: CliIo, answer: ApiAnswer): number {
  io.err(`sopgate: ${errorText(answer)}`);
  return EXIT.failed;
}

function describeRun(run: Run, history: LedgerEntry[]): string {
  const t = run.trigger_event;
  const lines = [
    `run ${run.run_id} of ${run.sop_name}: ${run.status}, step ${run.current_step} of ${run.total_steps}`,
    `started ${run.started_at}${run.completed_at === null ? '' : `, finished ${run.completed_at}`}`,
    `trigger ${t.source}${t.topic === null ? '' : ` ${t.topic}`}${t.payload === null ? '' : ` payload ${t.payload}`}`,
  ];
  if (run.waiting_since !== null) lines.push(`waiting for approval since ${run.waiting_since}: sopgate approve ${run.run_id}`);
  if (run.reason !== null) lines.push(`reason: ${run.reason}`);
  for (const r of run.step_results) {
    lines.push(`  ${r.step_number}. ${r.status}${r.output === '' ? '' : `: ${r.output.split('\n')[0]}`}`);
  }
  if (history.length > 0) {
    lines.push('history:');
    for (const e of history) {
      const step = e.step_number === null ? '' : ` step ${e.step_number}`;
      const by = e.actor === null || e.actor === 'engine' ? '' : ` by ${e.actor}`;
      lines.push(`  ${e.at}  ${e.kind}${step}${by}${e.detail === null ? '' : `: ${e.detail}`}`);
    }
  }
  return lines.join('\n');
}
