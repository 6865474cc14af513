// What `sopgate validate` checks between SOPs and the board profiles in use. A peripheral
// trigger naming an unknown board or signal is a warning (that board may simply not be
// attached to this machine); a gpio_write or serial_write step naming anything but an
// output of the right kind is an error, since the step could never run.
import { join } from 'node:path';
import type { Finding, Findings, SopDefinition } from '../sop/types.js';
import type { BoardProfile, SignalConfig } from './board-profile.js';

export type SignalLookup = { ok: true; board: BoardProfile; signal: SignalConfig } | { ok: false; error: string };

/** Finds the signal an action names as "<board>/<signal>". */
export function findSignal(boards: readonly BoardProfile[], ref: string): SignalLookup {
  const slash = ref.indexOf('/');
  if (slash < 0) {
    const owners = boards.filter((b) => b.signals.has(ref)).map((b) => `"${b.name}/${ref}"`);
    const hint = owners.length > 0 ? ` (did you mean ${owners.join(' or ')}?)` : '';
    return { ok: false, error: `signal "${ref}" must be written "<board>/<signal>"${hint}` };
  }
  const boardName = ref.slice(0, slash);
  const signalName = ref.slice(slash + 1);
  const board = boards.find((b) => b.name === boardName);
  if (board === undefined) return { ok: false, error: `no board profile defines board "${boardName}"${known(boards.map((b) => b.name), 'boards')}` };
  const signal = board.signals.get(signalName);
  if (signal === undefined) return { ok: false, error: `board "${boardName}" has no signal "${signalName}"${known([...board.signals.keys()], 'signals')}` };
  return { ok: true, board, signal };
}

/** The hardware findings of one SOP: its peripheral triggers and its gpio_write / serial_write steps. */
export function checkSopHardware(boards: readonly BoardProfile[], sop: SopDefinition): Findings {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const tomlFile = join(sop.location, 'SOP.toml');
  sop.triggers.forEach((trigger, index) => {
    if (trigger.type !== 'peripheral') return;
    const problem = triggerProblem(boards, trigger.board, trigger.signal);
    if (problem !== null) warnings.push({ message: `trigger ${index + 1} (peripheral): ${problem}`, file: tomlFile, line: null });
  });
  const mdFile = join(sop.location, 'SOP.md');
  for (const step of sop.steps) {
    const tool = step.action?.tool;
    if (tool !== 'gpio_write' && tool !== 'serial_write') continue;
    const ref = step.action!.args.signal;
    if (typeof ref !== 'string') continue; // the action parser already reported it
    const want = tool === 'gpio_write' ? 'gpio_out' : 'serial';
    const found = findSignal(boards, ref);
    const problem = !found.ok ? found.error : found.signal.type !== want ? `"${ref}" is a ${found.signal.type} signal, not a ${want}` : null;
    if (problem !== null) errors.push({ message: `step ${step.number}: ${tool}: ${problem}`, file: mdFile, line: null });
  }
  return { errors, warnings };
}

/** Adds each loaded SOP's hardware findings to its own (`validate` and the daemon alike). */
export function addHardwareFindings(boards: readonly BoardProfile[], loaded: readonly { sop: SopDefinition; errors: Finding[]; warnings: Finding[] }[]): void {
  for (const s of loaded) {
    const found = checkSopHardware(boards, s.sop);
    s.errors.push(...found.errors);
    s.warnings.push(...found.warnings);
  }
}

/** Why a peripheral trigger on "<board>/<signal>" may never fire, or null. */
function triggerProblem(boards: readonly BoardProfile[], boardName: string, signalName: string): string | null {
  const board = boards.find((b) => b.name === boardName);
  if (board === undefined) return `no board profile defines board "${boardName}"${known(boards.map((b) => b.name), 'boards')}`;
  // kv lines make events named after their keys: an undeclared key list could hold any name.
  const kv = [...board.signals.values()].flatMap((s) => (s.type === 'serial' && s.format === 'kv' ? [s] : []));
  if (kv.some((s) => s.keys === null || s.keys.includes(signalName))) return null;
  const signal = board.signals.get(signalName);
  if (signal === undefined) {
    const names = [...board.signals.keys(), ...kv.flatMap((s) => s.keys ?? [])];
    return `board "${boardName}" has no signal${kv.length > 0 ? ' or key=value key' : ''} "${signalName}"${known(names, 'names')}`;
  }
  if (signal.type === 'gpio_out') return `"${boardName}/${signalName}" is a gpio_out: outputs make no events`;
  if (signal.type === 'serial' && signal.format === 'kv') {
    return `"${boardName}/${signalName}" reads key=value lines, whose events are "${boardName}/<key>": trigger on one of its keys (${(signal.keys ?? []).join(', ')})`;
  }
  return null;
}

function known(names: string[], what: string): string {
  return names.length === 0 ? '' : ` (${what}: ${names.join(', ')})`;
}
