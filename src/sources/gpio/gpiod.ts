// The default backend: libgpiod's command-line tools as child processes. One gpiomon per
// chip (and bias) watches the inputs, one gpioset per output holds its level; changing an
// output ends its gpioset and starts another. The tools' generation (1.6 or 2.x) is asked
// once at start and each is driven in its own syntax (gpiod-syntax.ts). Lines are named
// ("GPIO17") where the profile does, so one profile serves a Pi 4 and a Pi 5.
import { execFile } from 'node:child_process';
import type { LineRef } from '../../config/board-profile.js';
import { errorMessage } from '../../core/errors.js';
import { reportAll, type BackendContext, type BackendLines, type GpioBackend, type InputLine, type OutputLine, type WriteResult } from './backend.js';
import { monitorArgs, parseGpiodVersion, parseGpiofind, parseMonitorLine, setArgs, V2_READY, type GpiodMajor, type MonitorGroup } from './gpiod-syntax.js';
import { Supervisor } from './supervisor.js';
import { findOnPath, notInstalled, ToolRun } from './tool-process.js';

export interface GpiodOptions {
  /** The tools' environment (PATH finds them); default: the gateway's. */
  env?: NodeJS.ProcessEnv;
  /** v1 tools print nothing when they succeed: one that has run this long holds its lines. */
  settleMs?: number;
}

const V1_SETTLE_MS = 200;
const QUERY_TIMEOUT_MS = 5000;

interface Output extends OutputLine {
  /** Where gpioset finds it: v1 resolves names to a chip and offset first. */
  chip: string | null;
  at: LineRef;
  supervisor: Supervisor;
  /** Writes one after another: each ends the gpioset the previous one started. */
  queue: Promise<unknown>;
}

export class GpiodBackend implements GpioBackend {
  readonly name = 'gpiod';
  private readonly env: NodeJS.ProcessEnv;
  private readonly monitors: Supervisor[] = [];
  private readonly outputs = new Map<string, Output>();
  private major: GpiodMajor | null = null;
  private stopped = false;

  constructor(
    private readonly lines: BackendLines,
    private readonly ctx: BackendContext,
    private readonly options: GpiodOptions = {},
  ) {
    this.env = options.env ?? process.env;
  }

  async start(): Promise<void> {
    const { sink, logger } = this.ctx;
    const all = [...this.lines.inputs, ...this.lines.outputs].map((l) => l.signal);
    if (all.length === 0) return;
    reportAll(sink, all, 'starting', null);
    const detected = await this.detect();
    if (!detected.ok) {
      logger.log('error', `board ${this.lines.board}: ${detected.error}; its GPIO signals are down`);
      reportAll(sink, all, 'down', detected.error);
      return;
    }
    const major = detected.major;
    this.major = major;
    const setpriv = findOnPath('setpriv', this.env.PATH);
    if (setpriv === null) {
      logger.log('warn', `board ${this.lines.board}: setpriv not found (util-linux): if the gateway is killed, its gpiomon and gpioset children keep holding their lines until they are ended by hand`);
    }
    const launcher = (command: string, onLine: (line: string) => void) => (args: readonly string[]) =>
      new ToolRun({
        command,
        args,
        env: this.env,
        setpriv,
        ready: major === 1 ? { settleMs: this.options.settleMs ?? V1_SETTLE_MS } : { line: V2_READY[command as 'gpiomon' | 'gpioset'] },
        onLine,
        clock: this.ctx.clock,
      });

    const located = await Promise.all([...this.lines.inputs, ...this.lines.outputs].map(async (l) => ({ line: l, at: await this.locate(major, l.line) })));
    const where = new Map<string, { chip: string | null; at: LineRef }>();
    for (const { line, at } of located) {
      if (at.ok) where.set(line.signal, at);
      else sink.state(line.signal, 'down', at.error);
    }
    if (this.stopped) return;

    const starts: Promise<unknown>[] = [];
    for (const group of groupInputs(this.lines.inputs, where)) {
      const signals = group.lines.map((l) => l.signal);
      const onLine = (text: string) => this.onMonitorLine(major, group, text);
      const supervisor = new Supervisor({ what: `board ${this.lines.board}: gpiomon (${signals.join(', ')})`, signals, launch: launcher('gpiomon', onLine), sink, logger, clock: this.ctx.clock });
      this.monitors.push(supervisor);
      starts.push(supervisor.run(monitorArgs(major, group)));
    }
    for (const output of this.lines.outputs) {
      const at = where.get(output.signal);
      if (at === undefined) continue;
      const supervisor = new Supervisor({ what: `board ${this.lines.board}: gpioset (${output.signal})`, signals: [output.signal], launch: launcher('gpioset', () => {}), sink, logger, clock: this.ctx.clock });
      const entry: Output = { ...output, chip: at.chip, at: at.at, supervisor, queue: Promise.resolve() };
      this.outputs.set(output.signal, entry);
      entry.queue = supervisor.run(setArgs(major, at.chip, at.at, output.level));
      starts.push(entry.queue);
    }
    await Promise.all(starts);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.monitors, ...[...this.outputs.values()].map((o) => o.supervisor)].map((s) => s.stop()));
  }

  write(signal: string, level: 0 | 1): Promise<WriteResult> {
    const output = this.outputs.get(signal);
    if (output === undefined || this.major === null) {
      const known = this.lines.outputs.some((o) => o.signal === signal);
      return Promise.resolve({ ok: false, error: known ? `"${signal}" is down: the gpiod tools could not drive it` : `"${signal}" is not a gpio_out of board "${this.lines.board}"` });
    }
    const major = this.major;
    const result = output.queue.catch(() => undefined).then(() => output.supervisor.run(setArgs(major, output.chip, output.at, level)));
    output.queue = result;
    return result;
  }

  private onMonitorLine(major: GpiodMajor, group: MonitorGroup, text: string): void {
    const edge = parseMonitorLine(major, text);
    if (edge === null) return;
    const hit = group.lines.find((l) => (typeof l.line === 'number' ? l.line === edge.offset : l.line === edge.name));
    if (hit !== undefined) this.ctx.sink.edge(hit.signal, edge.level);
  }

  private async detect(): Promise<{ ok: true; major: GpiodMajor } | { ok: false; error: string }> {
    const answer = await this.query('gpiomon', ['--version']);
    if (!answer.ok) return answer;
    const version = parseGpiodVersion(answer.stdout);
    if (version === null) return { ok: false, error: `gpiomon --version printed no libgpiod 1.x or 2.x version: ${JSON.stringify(answer.stdout.slice(0, 80))}` };
    this.ctx.logger.log('info', `board ${this.lines.board}: libgpiod ${version.version} tools`);
    return { ok: true, major: version.major };
  }

  /**
   * Where the tools find a line. v1 tools take offsets: names are found with gpiofind. v2
   * tools take names as they are, but a name no chip has would fail the whole gpiomon
   * with it, so each is checked alone first (gpioinfo), and only that signal is down.
   */
  private async locate(major: GpiodMajor, line: LineRef): Promise<{ ok: true; chip: string | null; at: LineRef } | { ok: false; error: string }> {
    if (typeof line === 'number') return { ok: true, chip: this.lines.chip, at: line };
    if (major === 2) {
      const chip = this.lines.chip === null ? [] : ['-c', this.lines.chip];
      const answer = await this.query('gpioinfo', [...chip, line]);
      if (!answer.ok && !answer.notFound) return { ok: false, error: `line "${line}" not found: ${answer.error}` };
      return { ok: true, chip: this.lines.chip, at: line };
    }
    const answer = await this.query('gpiofind', [line]);
    if (!answer.ok) return { ok: false, error: answer.notFound ? answer.error : `line "${line}" not found (gpiofind): check the name with gpioinfo` };
    const found = parseGpiofind(answer.stdout);
    if (found === null) return { ok: false, error: `gpiofind ${line} printed ${JSON.stringify(answer.stdout.slice(0, 80))}` };
    return { ok: true, chip: found.chip, at: found.offset };
  }

  /** Runs a tool that answers and exits; `error` is its last stderr line. */
  private query(command: string, args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; error: string; notFound: boolean }> {
    return new Promise((resolve) => {
      execFile(command, args, { env: this.env, timeout: QUERY_TIMEOUT_MS }, (err, stdout, stderr) => {
        if (err === null) return resolve({ ok: true, stdout });
        const notFound = (err as NodeJS.ErrnoException).code === 'ENOENT';
        const said = stderr.trim().split('\n').at(-1);
        resolve({ ok: false, error: notFound ? notInstalled(command) : said || errorMessage(err).trim(), notFound });
      });
    });
  }
}

/** Inputs grouped per chip and bias: one gpiomon applies one bias to all its lines. */
function groupInputs(inputs: readonly InputLine[], where: Map<string, { chip: string | null; at: LineRef }>): MonitorGroup[] {
  const groups = new Map<string, { chip: string | null; bias: InputLine['bias']; lines: { signal: string; line: LineRef }[] }>();
  for (const input of inputs) {
    const at = where.get(input.signal);
    if (at === undefined) continue;
    const key = `${at.chip ?? ''}\u0000${input.bias}`;
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { chip: at.chip, bias: input.bias, lines: [] }));
    group.lines.push({ signal: input.signal, line: at.at });
  }
  return [...groups.values()];
}
