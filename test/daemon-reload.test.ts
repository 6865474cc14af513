// Reloading a large or hostile SOP folder: the gateway keeps answering while it loads, a
// FIFO named SOP.md is a finding rather than a hang, and reloads apply in the order asked.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { removeTree, sopToml, ONE_STEP_MD } from './helpers/workspace.js';

/** A SOP.md of `steps` steps, about 150 bytes each. */
function bigMd(steps: number): string {
  const lines = ['# Big', '', '## Steps', ''];
  for (let i = 1; i <= steps; i++) lines.push(`${i}. **Check sensor ${i}** — Read the value and compare it with the limit.`, '   - tools: log, shell', '');
  return lines.join('\n');
}

function addSop(h: DaemonHarness, name: string, md: string): void {
  mkdirSync(join(h.root, 'sops', name), { recursive: true });
  writeFileSync(join(h.root, 'sops', name, 'SOP.toml'), sopToml(name));
  writeFileSync(join(h.root, 'sops', name, 'SOP.md'), md);
}

const healthz = async (h: DaemonHarness) => (await fetch(`http://127.0.0.1:${h.listening.http.port}/healthz`)).status;

describe('reloading SOPs', () => {
  test('the gateway answers HTTP while it reloads a large SOP folder', async () => {
    const h = await startDaemon({ 'sops/first/SOP.toml': sopToml('first'), 'sops/first/SOP.md': ONE_STEP_MD });
    try {
      const md = bigMd(1000);
      for (let i = 0; i < 30; i++) addSop(h, `big-${String(i).padStart(2, '0')}`, md);
      let done = false;
      const t0 = performance.now();
      const reload = h.daemon.reload().finally(() => (done = true));
      let answered = 0;
      let slowest = 0;
      while (!done) {
        const sent = performance.now();
        assert.equal(await healthz(h), 200);
        slowest = Math.max(slowest, performance.now() - sent);
        if (!done) answered++;
      }
      const result = await reload;
      const took = performance.now() - t0;
      assert.deepEqual(result, { ok: true, loaded: 31, errors: 0 });
      // Loaded in one go, the folder would let no request through before the end.
      assert.ok(answered >= 3, `${answered} request(s) answered during a ${took.toFixed(0)} ms reload (slowest ${slowest.toFixed(0)} ms)`);
    } finally {
      await h.daemon.stop();
      await removeTree(h.root);
    }
  });

  test('a FIFO named SOP.md is a finding on reload, not a hang', async () => {
    const h = await startDaemon({ 'sops/first/SOP.toml': sopToml('first'), 'sops/first/SOP.md': ONE_STEP_MD, 'sops/pipe/SOP.toml': sopToml('pipe') });
    try {
      assert.equal(spawnSync('mkfifo', [join(h.root, 'sops/pipe/SOP.md')]).status, 0);
      assert.deepEqual(await h.daemon.reload(), { ok: true, loaded: 1, errors: 1 });
      assert.ok(h.logs.some((l) => l.includes('cannot read SOP.md: is a FIFO, not a regular file')), h.logs.join('\n'));
      assert.equal(await healthz(h), 200);
    } finally {
      await h.daemon.stop();
      await removeTree(h.root);
    }
  });

  test('a SOP with thousands of findings logs ten of each kind and a count', async () => {
    const unknown = Array.from({ length: 5000 }, (_, i) => `k${i} = 1`).join('\n');
    const bad = Array.from({ length: 30 }, (_, i) => `[[triggers]]\ntype = "mqtt"\ntopic = "a/#/${i}"\n`).join('');
    const h = await startDaemon({ 'sops/noisy/SOP.toml': `${unknown}\n${sopToml('noisy', '', bad)}`, 'sops/noisy/SOP.md': ONE_STEP_MD });
    try {
      const lines = h.logs.filter((l) => l.includes('SOP noisy'));
      assert.equal(lines.filter((l) => l.startsWith('error')).length, 11);
      assert.equal(lines.filter((l) => l.startsWith('warn')).length, 11);
      assert.ok(lines.includes('error [sops] SOP noisy: 20 more error(s) not logged (sopgate validate lists them all)'), lines.join('\n'));
      assert.ok(lines.includes('warn [sops] SOP noisy: 4990 more warning(s) not logged (sopgate validate lists them all)'), lines.join('\n'));
    } finally {
      await h.daemon.stop();
      await removeTree(h.root);
    }
  });

  test('two reloads apply in the order asked, whichever loads faster', async () => {
    const h = await startDaemon({ 'sops/keep/SOP.toml': sopToml('keep'), 'sops/keep/SOP.md': ONE_STEP_MD });
    try {
      for (let i = 0; i < 200; i++) addSop(h, `old-${String(i).padStart(3, '0')}`, ONE_STEP_MD);
      const first = h.daemon.reload();
      // Once the first reload has listed the folder (its listing was asked first), the
      // folder changes: the second reload has two SOPs to load, the first 201 folders to visit.
      await readdir(join(h.root, 'sops'));
      for (let i = 0; i < 200; i++) rmSync(join(h.root, 'sops', `old-${String(i).padStart(3, '0')}`), { recursive: true });
      addSop(h, 'late', ONE_STEP_MD);
      const second = h.daemon.reload();
      await Promise.all([first, second]);
      const names = (await h.api('GET', '/api/sops')).body.map((s: { name: string }) => s.name);
      assert.deepEqual(names, ['keep', 'late']);
    } finally {
      await h.daemon.stop();
      await removeTree(h.root);
    }
  });

  test('a reload that ends after stop leaves the stopped gateway alone', async () => {
    const h = await startDaemon({ 'sops/first/SOP.toml': sopToml('first'), 'sops/first/SOP.md': ONE_STEP_MD });
    try {
      for (let i = 0; i < 20; i++) addSop(h, `more-${i}`, ONE_STEP_MD);
      const reload = h.daemon.reload();
      await h.daemon.stop();
      assert.deepEqual(await reload, { ok: false, loaded: 1, errors: 0, message: 'the gateway is stopping' });
    } finally {
      await h.daemon.stop();
      await removeTree(h.root);
    }
  });
});
