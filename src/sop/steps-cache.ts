// SOP.md parses kept in <state_dir> between starts: reading the steps of every SOP.md is
// part of the time a gateway takes to come back after a restart or a power cut, and the SOP
// folder rarely changes between starts. An entry is used
// only for the same file, the same text (SHA-256) and the same build of sopgate; anything
// unreadable or from another build is ignored and rebuilt, so the cache can only make a
// start faster, never change what loads.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ParsedSteps } from './markdown.js';
import type { Finding, Step } from './types.js';

interface Entry {
  sha256: string;
  steps: Step[];
  errors: Finding[];
  warnings: Finding[];
  actionLines: [number, number][];
}

interface CacheFile {
  build: string;
  entries: Record<string, Entry>;
}

/** SOP.md texts longer than this are parsed every time, not kept. */
export const MAX_CACHED_CHARS = 64 * 1024;

export class StepsCache {
  private readonly old: Record<string, Entry>;
  /** Entries used or made by this load: what `save` keeps. */
  private readonly used: Record<string, Entry> = {};
  private changed = false;

  private constructor(
    private readonly file: string,
    private readonly build: string,
    old: Record<string, Entry>,
  ) {
    this.old = old;
  }

  /** Reads the cache file; a missing, broken or other build's file gives an empty cache. */
  static open(file: string, build: string): StepsCache {
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
      if (data.build === build && typeof data.entries === 'object' && data.entries !== null) return new StepsCache(file, build, data.entries);
    } catch {
      // nothing usable: start empty
    }
    return new StepsCache(file, build, {});
  }

  /** `parse(text)`, or the stored result of the same call. */
  parse(mdFile: string, text: string, parse: () => ParsedSteps): ParsedSteps {
    // A large SOP.md parses in milliseconds and would make the cache file large: it is read
    // and written whole, on the event loop, at every start and reload.
    if (text.length > MAX_CACHED_CHARS) return parse();
    const sha256 = createHash('sha256').update(text).digest('hex');
    const hit = this.old[mdFile];
    if (hit !== undefined && hit.sha256 === sha256) {
      this.used[mdFile] = hit;
      return { steps: hit.steps, errors: hit.errors, warnings: hit.warnings, actionLines: new Map(hit.actionLines) };
    }
    const result = parse();
    this.used[mdFile] = { sha256, steps: result.steps, errors: result.errors, warnings: result.warnings, actionLines: [...result.actionLines] };
    this.changed = true;
    return result;
  }

  /**
   * Writes what this load used, if anything changed (a new or edited SOP.md, or one that
   * went away), through a temp file and a rename. Returns an error message or null.
   */
  save(): string | null {
    const gone = Object.keys(this.old).some((f) => !(f in this.used));
    if (!this.changed && !gone) return null;
    const tmp = `${this.file}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(tmp, JSON.stringify({ build: this.build, entries: this.used } satisfies CacheFile));
      renameSync(tmp, this.file);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }
}
