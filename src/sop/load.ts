// Loads every `<sops_dir>/*/SOP.toml` (+ optional SOP.md), sorted by folder name. A broken
// SOP carries its findings and never stops the others from loading.
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { readTextFile, type TextFile } from '../core/read-text.js';
import { unknownPlaceholders } from './placeholders.js';
import { parseSteps } from './markdown.js';
import { parseSopToml, type SopTomlOptions } from './sop-toml.js';
import type { StepsCache } from './steps-cache.js';
import { SOP_LIMITS, TOOL_NAMES, type Finding, type SopDefinition, type ToolName } from './types.js';

export interface LoadOptions extends SopTomlOptions {
  /** Larger SOP files are not read ([sops] max_file_bytes). */
  maxFileBytes?: number;
  /** More steps in one SOP.md is an error ([sops] max_steps). */
  maxSteps?: number;
  /** The tools this gateway can run; a step naming another is an error. Default: every tool. */
  runnableTools?: ReadonlySet<ToolName>;
}

const ALL_TOOLS: ReadonlySet<ToolName> = new Set(TOOL_NAMES);

export interface LoadedSop {
  /** Best-effort definition: defaults stand where the files were wrong. */
  sop: SopDefinition;
  errors: Finding[];
  warnings: Finding[];
}

export class SopsDirError extends Error {
  constructor(readonly dir: string, readonly reason: string) {
    super(`cannot read SOP folder ${dir}: ${reason}`);
  }
}

/** `cache` keeps SOP.md parses between starts (the daemon's, in its state_dir). */
export async function loadSops(sopsDir: string, options: LoadOptions, cache?: StepsCache): Promise<LoadedSop[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(sopsDir, { withFileTypes: true });
  } catch (err) {
    throw new SopsDirError(sopsDir, errorReason(err));
  }
  const dirs = entries
    .filter((e) => e.isDirectory() || e.isSymbolicLink())
    .map((e) => e.name)
    .filter((name) => !name.startsWith('.'))
    .sort(); // code-unit order: the same on every machine and locale
  const sops: LoadedSop[] = [];
  for (const name of dirs) {
    // One SOP at a time, letting the event loop run in between: a daemon reloading a large
    // SOP folder keeps answering.
    await nextTurn();
    const loaded = loadOne(join(sopsDir, name), options, cache);
    if (loaded !== null) sops.push(loaded);
  }
  flagDuplicateNames(sops);
  return sops;
}

function loadOne(dir: string, options: LoadOptions, cache: StepsCache | undefined): LoadedSop | null {
  const tomlFile = join(dir, 'SOP.toml');
  const mdFile = join(dir, 'SOP.md');
  const limit = { maxBytes: options.maxFileBytes ?? SOP_LIMITS.maxFileBytes, setting: '[sops] max_file_bytes' };
  const toml = readTextFile(tomlFile, limit);
  if (!toml.ok && toml.missing) return null; // not a SOP folder
  const md = readTextFile(mdFile, limit);
  const folderName = dir.split(/[\\/]/).pop() ?? dir;
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const sop: SopDefinition = {
    name: folderName,
    description: '',
    version: '0.1.0',
    priority: 'normal',
    execution_mode: options.defaultExecutionMode,
    cooldown_secs: 0,
    max_concurrent: 1,
    triggers: [],
    steps: [],
    location: dir,
  };

  if (!toml.ok) {
    errors.push(unreadable('SOP.toml', toml, tomlFile));
  } else {
    const result = parseSopToml(toml.text, tomlFile, options);
    append(errors, result.errors);
    append(warnings, result.warnings);
    if (result.header !== null) {
      Object.assign(sop, result.header);
      if (sop.name.trim() === '') sop.name = folderName;
      if (result.header.triggers.length === 0 && result.errors.length === 0) {
        warnings.push({ message: 'no triggers: nothing can start this SOP', file: tomlFile, line: null });
      }
    }
  }

  if (!md.ok && !md.missing) {
    errors.push(unreadable('SOP.md', md, mdFile));
  } else if (!md.ok) {
    warnings.push({ message: 'no steps: SOP.md is missing, so this SOP cannot run', file: mdFile, line: null });
  } else {
    const text = md.text;
    const parse = () => parseSteps(text, mdFile);
    const result = cache === undefined ? parse() : cache.parse(mdFile, text, parse);
    sop.steps = result.steps;
    append(errors, result.errors);
    append(warnings, result.warnings);
    const maxSteps = options.maxSteps ?? SOP_LIMITS.maxSteps;
    if (result.steps.length > maxSteps) {
      errors.push({ message: `${result.steps.length} steps, more than the ${maxSteps} allowed ([sops] max_steps)`, file: mdFile, line: null });
    }
    checkActions(sop, result.actionLines, mdFile, options.runnableTools ?? ALL_TOOLS, errors, warnings);
    if (result.steps.length === 0) {
      warnings.push({ message: 'no steps: SOP.md has no numbered items under "## Steps"', file: mdFile, line: null });
    }
  }
  return { sop, errors, warnings };
}

/** `to.push(...from)` without passing each finding as an argument: a 1 MiB file can hold 200,000 of them. */
function append(to: Finding[], from: readonly Finding[]): void {
  for (const f of from) to.push(f);
}

/** Actions this gateway cannot run fail at load time, not in the middle of a run. */
function checkActions(
  sop: SopDefinition,
  lines: Map<number, number>,
  file: string,
  runnable: ReadonlySet<ToolName>,
  errors: Finding[],
  warnings: Finding[],
): void {
  for (const step of sop.steps) {
    const action = step.action;
    if (action === null) continue;
    const line = lines.get(step.number) ?? null;
    if (!runnable.has(action.tool)) {
      errors.push({
        message: `step ${step.number}: ${action.tool} is not available in this version of sopgate (runnable: ${[...runnable].join(', ')})`,
        file,
        line,
      });
    }
    if (action.tool === 'shell') continue; // scripts read $SOP_* variables, not placeholders
    const texts = Object.values(action.args).flatMap((v) => (typeof v === 'string' ? [v] : isStringRecord(v) ? Object.values(v) : []));
    const unknown = new Set(texts.flatMap((text) => unknownPlaceholders(text)));
    for (const name of unknown) {
      warnings.push({ message: `step ${step.number}: unknown placeholder {{${name}}} is left as written`, file, line });
    }
  }
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** The first folder (by name) keeps a SOP name; later folders with the same name are errors. */
function flagDuplicateNames(sops: LoadedSop[]): void {
  const first = new Map<string, LoadedSop>();
  for (const loaded of sops) {
    const owner = first.get(loaded.sop.name);
    if (owner === undefined) {
      first.set(loaded.sop.name, loaded);
    } else {
      loaded.errors.push({
        message: `duplicate SOP name "${loaded.sop.name}": already defined in ${owner.sop.location}`,
        file: join(loaded.sop.location, 'SOP.toml'),
        line: null,
      });
    }
  }
}

/** A SOP file that exists but cannot be read: not a regular file, too large, not UTF-8. */
function unreadable(name: string, file: Extract<TextFile, { missing: false }>, path: string): Finding {
  return { message: `cannot read ${name}: ${file.message}`, file: path, line: file.line };
}

function errorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such folder';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a folder';
  if (e.code === 'ENOTDIR') return 'not a folder';
  return e.message ?? String(err);
}
