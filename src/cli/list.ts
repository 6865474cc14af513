// `sopgate list [--json]` and `sopgate show <name> [--json]`.
import { onFailureText, sopToJson } from '../sop/json.js';
import type { LoadedSop } from '../sop/load.js';
import type { SopDefinition, Trigger } from '../sop/types.js';
import { displayPath, EXIT, printJson, table, UsageError, type CliIo } from './io.js';
import { openWorkspace, type GlobalOptions } from './workspace.js';

type Options = GlobalOptions & { json?: boolean | undefined };

export async function listCommand(io: CliIo, options: Options): Promise<number> {
  const ws = await openWorkspace(io, options);
  if (ws.sopsDirError !== null) io.err(`sopgate: ${ws.sopsDirError}`);
  const broken = ws.sops.filter((s) => s.errors.length > 0);
  if (options.json) {
    // Only SOPs that load: a broken one's defaults would read as facts.
    printJson(io, ws.sops.filter((s) => s.errors.length === 0).map((s) => sopToJson(s.sop)));
    if (broken.length > 0) io.err(`sopgate: ${broken.length} SOP(s) with errors left out: run sopgate validate`);
    return EXIT.ok;
  }
  if (ws.sops.length === 0) {
    io.out(`no SOPs in ${displayPath(io, ws.sopsDir)}`);
    return EXIT.ok;
  }
  const rows = [['NAME', 'PRIORITY', 'MODE', 'TRIGGERS', 'STEPS', 'STATUS']];
  for (const s of ws.sops) {
    const triggers = [...new Set(s.sop.triggers.map((t) => t.type))].join(',') || '-';
    rows.push([s.sop.name, s.sop.priority, s.sop.execution_mode, triggers, String(s.sop.steps.length), status(s)]);
  }
  io.out(table(rows));
  return EXIT.ok;
}

export async function showCommand(io: CliIo, name: string | undefined, options: Options): Promise<number> {
  if (name === undefined) throw new UsageError('show needs a SOP name: sopgate show <name>');
  const ws = await openWorkspace(io, options);
  const loaded = ws.sops.find((s) => s.sop.name === name);
  if (loaded === undefined) {
    if (ws.sopsDirError !== null) io.err(`sopgate: ${ws.sopsDirError}`);
    throw new UsageError(`unknown SOP "${name}"`);
  }
  if (options.json) printJson(io, sopToJson(loaded.sop));
  else io.out(describe(io, loaded));
  return EXIT.ok;
}

function status(s: LoadedSop): string {
  if (s.errors.length > 0) return `${plural(s.errors.length, 'error')} (sopgate validate ${s.sop.name})`;
  if (s.warnings.length > 0) return plural(s.warnings.length, 'warning');
  return 'ok';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function describeTrigger(t: Trigger): string {
  switch (t.type) {
    case 'manual':
      return 'manual';
    case 'webhook':
      return `webhook     POST ${t.path}`;
    case 'mqtt':
      return `mqtt        ${t.topic}${t.condition === undefined ? '' : `  when ${t.condition}`}`;
    case 'cron':
      return `cron        ${t.expression}`;
    case 'peripheral':
      return `peripheral  ${t.board}/${t.signal}${t.condition === undefined ? '' : `  when ${t.condition}`}`;
  }
}

function describe(io: CliIo, loaded: LoadedSop): string {
  const sop: SopDefinition = loaded.sop;
  const out = [
    `${sop.name} ${sop.version}: ${sop.description}`,
    `priority ${sop.priority}, mode ${sop.execution_mode}, cooldown ${sop.cooldown_secs}s, max concurrent ${sop.max_concurrent}`,
    `location ${displayPath(io, sop.location)}`,
    '',
    'triggers:',
    ...(sop.triggers.length === 0 ? ['  (none)'] : sop.triggers.map((t) => `  ${describeTrigger(t)}`)),
    '',
    'steps:',
  ];
  if (sop.steps.length === 0) out.push('  (none)');
  for (const step of sop.steps) {
    const marks = [
      step.requires_confirmation ? 'requires confirmation' : '',
      step.suggested_tools.length > 0 ? `tools: ${step.suggested_tools.join(', ')}` : '',
      step.action === null ? 'external' : `runs ${step.action.tool}`,
      step.on_failure.policy === 'fail' ? '' : `on failure: ${onFailureText(step.on_failure)}`,
      step.timeout_secs === null ? '' : `timeout ${step.timeout_secs}s`,
    ].filter((m) => m !== '');
    out.push(`  ${step.number}. ${step.title || '(untitled)'}  [${marks.join('; ')}]`);
    for (const line of step.body.split('\n')) if (line.trim() !== '') out.push(`     ${line}`);
    if (step.action !== null) {
      const text = step.action.tool === 'shell' ? step.action.source : JSON.stringify(step.action.args);
      for (const line of text.trimEnd().split('\n')) out.push(`     | ${line}`);
    }
  }
  const problems = loaded.errors.length + loaded.warnings.length;
  if (problems > 0) out.push('', `${status(loaded)}: run sopgate validate ${sop.name}`);
  return out.join('\n');
}
