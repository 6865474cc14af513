// A small path router: literal segments, `:name` parameters and a trailing `*name` that
// takes the rest of the path (one segment or more). It tells a wrong method (405 with
// Allow) from an unknown path (404).

export type Params = Record<string, string>;

interface Route<H> {
  method: string;
  /** The pattern as written, used as the route's label in logs and metrics. */
  pattern: string;
  segments: string[];
  handler: H;
}

export type RouteMatch<H> =
  | { kind: 'found'; route: string; handler: H; params: Params }
  | { kind: 'method'; route: string; allow: string[] }
  | { kind: 'none' }
  | { kind: 'bad_path' };

export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): this {
    this.routes.push({ method, pattern, segments: split(pattern), handler });
    return this;
  }

  find(method: string, path: string): RouteMatch<H> {
    const parts = split(path);
    const allow: string[] = [];
    let label: string | null = null;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (params === null) continue;
      if (params === undefined) return { kind: 'bad_path' };
      if (route.method === method) return { kind: 'found', route: route.pattern, handler: route.handler, params };
      if (!allow.includes(route.method)) allow.push(route.method);
      label ??= route.pattern;
    }
    return label === null ? { kind: 'none' } : { kind: 'method', route: label, allow };
  }
}

function split(path: string): string[] {
  return path.split('/').slice(1);
}

/** Params on a match, null when the path does not fit, undefined when a parameter is badly escaped. */
function matchSegments(pattern: readonly string[], parts: readonly string[]): Params | null | undefined {
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i]!;
    if (seg.startsWith('*')) {
      const rest = parts.slice(i);
      if (rest.length === 0 || rest.join('') === '') return null;
      params[seg.slice(1)] = rest.join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined) return null;
    if (seg.startsWith(':')) {
      if (part === '') return null;
      try {
        params[seg.slice(1)] = decodeURIComponent(part);
      } catch {
        return undefined;
      }
    } else if (seg !== part) {
      return null;
    }
  }
  return parts.length === pattern.length ? params : null;
}
