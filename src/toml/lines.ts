// smol-toml returns plain values without positions. Findings need line numbers, so this
// scans the source once and remembers on which line each key of each table was written.
// It understands what SOP and config files use: [table], [[array]] headers, `key =`
// lines (bare, quoted or dotted keys) and multi-line strings/arrays to skip over.

export class TomlLines {
  private readonly keys = new Map<string, number>();
  private readonly headers = new Map<string, number>();

  constructor(source: string) {
    const counts = new Map<string, number>();
    let table = '';
    let inString: '"""' | "'''" | null = null;
    let depth = 0; // open [ or { of a value spanning lines
    const lines = source.split(/\r?\n/);
    lines.forEach((raw, index) => {
      const lineNo = index + 1;
      let line = raw.trim();
      if (inString !== null) {
        if (line.includes(inString)) inString = null;
        return;
      }
      if (depth > 0) {
        depth = Math.max(0, depth + bracketBalance(line));
        return;
      }
      if (line === '' || line.startsWith('#')) return;
      const header = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(line) ?? /^\[\s*([^\]]+?)\s*\]/.exec(line);
      if (header) {
        const name = normalizeKey(header[1]!);
        if (line.startsWith('[[')) {
          const n = counts.get(name) ?? 0;
          counts.set(name, n + 1);
          table = `${name}#${n}`;
        } else {
          table = name;
        }
        this.headers.set(table, lineNo);
        return;
      }
      const eq = keyEnd(line);
      if (eq < 0) return;
      const key = normalizeKey(line.slice(0, eq));
      this.keys.set(`${table}\u0000${key}`, lineNo);
      line = line.slice(eq + 1).trim();
      for (const quote of ['"""', "'''"] as const) {
        if (line.startsWith(quote) && !line.slice(3).includes(quote)) inString = quote;
      }
      if (inString === null) depth = Math.max(0, bracketBalance(line));
    });
  }

  /** Line of `key` in `table` ("" = top level, "sop", or "triggers#2" for the third [[triggers]]). */
  key(table: string, key: string): number | null {
    return this.keys.get(`${table}\u0000${key}`) ?? null;
  }

  /** Line of a `[table]` or `[[array]]` header ("triggers#0"). */
  header(table: string): number | null {
    return this.headers.get(table) ?? null;
  }

  /** The key's line, else its table's header line. */
  keyOrHeader(table: string, key: string): number | null {
    return this.key(table, key) ?? this.header(table);
  }
}

function normalizeKey(key: string): string {
  return key
    .split('.')
    .map((part) => part.trim().replace(/^"(.*)"$|^'(.*)'$/, '$1$2'))
    .join('.');
}

/** Index of the `=` that ends a key, or -1: quoted keys may contain `=`. */
function keyEnd(line: string): number {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '=') {
      return i;
    }
  }
  return -1;
}

/** Net count of [ { minus ] } outside strings and comments, to follow values over lines. */
function bracketBalance(text: string): number {
  let balance = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== null) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') break;
    else if (c === '[' || c === '{') balance++;
    else if (c === ']' || c === '}') balance--;
  }
  return balance;
}
