// Loads every `<sops_dir>/*/SOP.toml` (+ optional SOP.md), sorted by folder name. A broken
// SOP carries its findings and never stops the others from loading.
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RUNNABLE_TOOLS } from '../executors/runnable.js';
import { unknownPlaceholders } from './placeholders.js';
import { parseSteps } from './markdown.js';
import { parseSopToml, type SopTomlOptions } from './sop-toml.js';
import type { StepsCache } from './steps-cache.js';
import type { Finding, SopDefinition } from './types.js';

export type LoadOptions = SopTomlOptions;

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

/** True when the SOP may run: it loaded without errors. */
export function isRunnable(loaded: LoadedSop): boolean {
  return loaded.errors.length === 0;
}

/** `cache` keeps SOP.md parses between starts (the daemon's, in its state_dir). */
export async function loadSops(sopsDir: string, options: LoadOptions, cache?: StepsCache): Promise<LoadedSop[]> {
  let entries: import('node:fs').Dirent[];
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
  const loaded = dirs.map((name) => loadOne(join(sopsDir, name), options, cache));
  const sops = loaded.filter((s): s is LoadedSop => s !== null);
  flagDuplicateNames(sops);
  return sops;
}

function loadOne(dir: string, options: LoadOptions, cache: StepsCache | undefined): LoadedSop | null {
  const tomlFile = join(dir, 'SOP.toml');
  const mdFile = join(dir, 'SOP.md');
  const toml = readText(tomlFile);
  const md = readText(mdFile);
  if (toml.missing) return null; // not a SOP folder
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

  if (toml.error !== null) {
    errors.push({ message: `cannot read SOP.toml: ${toml.error}`, file: tomlFile, line: null });
  } else {
    const result = parseSopToml(toml.text, tomlFile, options);
    errors.push(...result.errors);
    warnings.push(...result.warnings);
    if (result.header !== null) {
      Object.assign(sop, result.header);
      if (sop.name.trim() === '') sop.name = folderName;
      if (result.header.triggers.length === 0 && result.errors.length === 0) {
        warnings.push({ message: 'no triggers: nothing can start this SOP', file: tomlFile, line: null });
      }
    }
  }

  if (md.error !== null) {
    errors.push({ message: `cannot read SOP.md: ${md.error}`, file: mdFile, line: null });
  } else if (md.missing) {
    warnings.push({ message: 'no steps: SOP.md is missing, so this SOP cannot run', file: mdFile, line: null });
  } else {
    const parse = () => parseSteps(md.text, mdFile);
    const result = cache === undefined ? parse() : cache.parse(mdFile, md.text, parse);
    sop.steps = result.steps;
    errors.push(...result.errors);
    warnings.push(...result.warnings);
    checkActions(sop, result.actionLines, mdFile, errors, warnings);
    if (result.steps.length === 0) {
      warnings.push({ message: 'no steps: SOP.md has no numbered items under "## Steps"', file: mdFile, line: null });
    }
  }
  return { sop, errors, warnings };
}

/** Actions this gateway cannot run fail at load time, not in the middle of a run. */
function checkActions(sop: SopDefinition, lines: Map<number, number>, file: string, errors: Finding[], warnings: Finding[]): void {
  for (const step of sop.steps) {
    const action = step.action;
    if (action === null) continue;
    const line = lines.get(step.number) ?? null;
    if (!RUNNABLE_TOOLS.has(action.tool)) {
      errors.push({
        message: `step ${step.number}: ${action.tool} is not available in this version of sopgate (runnable: ${[...RUNNABLE_TOOLS].join(', ')})`,
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

type ReadResult = { text: string; missing: false; error: null } | { text: ''; missing: boolean; error: string | null };

/** Synchronous on purpose: parsing blocks the thread anyway, and fs/promises costs four thread-pool trips a file. */
function readText(file: string): ReadResult {
  try {
    return { text: readFileSync(file, 'utf8'), missing: false, error: null };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { text: '', missing: true, error: null };
    return { text: '', missing: false, error: errorReason(err) };
  }
}

function errorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such folder';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a folder';
  if (e.code === 'ENOTDIR') return 'not a folder';
  return e.message ?? String(err);
}
