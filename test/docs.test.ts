// The documentation holds together: every relative link in README.md and docs/*.md points
// at a file that exists (and at a heading of it, when it names one), every repository path
// written as code names a file that exists, every page is linked from the README, and the
// README stays a short door into docs/.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO } from './helpers/process.js';

const README_MAX_BYTES = 12_000;
const PAGES = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** The text outside fenced code blocks, line by line (a `# comment` in a shell block is no heading). */
function prose(text: string): string[] {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of text.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined && (fence === null || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === null ? marker : null;
      continue;
    }
    if (fence === null) lines.push(line);
  }
  return lines;
}

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as dashes. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(readFileSync(join(REPO, file), 'utf8'))) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Inline links outside code: [text](target). */
function links(file: string): string[] {
  const text = prose(readFileSync(join(REPO, file), 'utf8'))
    .join('\n')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

/**
 * Repository paths written as code (`test/x.test.ts`, `bench/soak.ts`): they must exist.
 * Dot folders (`examples/workspace/.sopgate/`) are state the gateway makes, not files here.
 */
function codePaths(file: string): string[] {
  const text = prose(readFileSync(join(REPO, file), 'utf8')).join('\n');
  return [...text.matchAll(/`((?:src|test|bench|scripts|systemd|boards|examples|docs)\/[\w./-]+)`/g)]
    .map((m) => m[1]!)
    .filter((p) => !p.split('/').some((part) => part.startsWith('.')));
}

describe('the documentation', () => {
  for (const page of PAGES) {
    test(`${page}: every relative link resolves, anchors included`, () => {
      const broken: string[] = [];
      for (const target of links(page)) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:, file:
        const [path = '', anchor] = target.split('#');
        const file = path === '' ? page : relative(REPO, resolve(REPO, dirname(page), decodeURIComponent(path)));
        if (!existsSync(join(REPO, file))) broken.push(`${target}: no file ${file}`);
        else if (anchor !== undefined && file.endsWith('.md') && !anchors(file).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${file}`);
      }
      assert.deepEqual(broken, []);
    });

    test(`${page}: every repository path written as code exists`, () => {
      assert.deepEqual(codePaths(page).filter((p) => !existsSync(join(REPO, p))), []);
    });
  }

  test('the README links every page of docs/', () => {
    const linked = new Set(links('README.md').map((t) => t.split('#')[0]));
    assert.deepEqual(PAGES.filter((p) => p !== 'README.md' && !linked.has(p)), []);
  });

  test(`the README is at most ${README_MAX_BYTES} bytes: the reference lives in docs/`, () => {
    assert.ok(statSync(join(REPO, 'README.md')).size <= README_MAX_BYTES, `README.md is ${statSync(join(REPO, 'README.md')).size} bytes`);
  });

  test('anchors are made as GitHub makes them', () => {
    assert.equal(slug('Attach mode: beside Home Assistant\'s mosquitto'), 'attach-mode-beside-home-assistants-mosquitto');
    assert.equal(slug('A fleet on one machine: `npm run bench:fleet`'), 'a-fleet-on-one-machine-npm-run-benchfleet');
    assert.equal(slug('`[engine]`'), 'engine');
    assert.equal(slug('`gpio_write`'), 'gpio_write');
    assert.equal(slug('Failures, retries and timeouts'), 'failures-retries-and-timeouts');
  });
});
