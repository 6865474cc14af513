// The shipped systemd unit: sandboxed (systemd-analyze security scores it, where the
// tool exists), yet the gateway keeps what it needs on a board: GPIO chips and serial
// ports through its groups and a device allow list, a JIT for V8, sockets.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO } from './helpers/process.js';

const UNIT = join(REPO, 'systemd/sopgate.service');
const MAX_EXPOSURE = 2.5;

/** Every value of `key` in the unit, in order (a key may repeat, as DeviceAllow= does). */
function values(key: string): string[] {
  return [...readFileSync(UNIT, 'utf8').matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
}

function analyzerSkip(): string | false {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'systemd-analyze is not installed (Debian: apt-get install systemd)';
  }
  const help = spawnSync('systemd-analyze', ['security', '--help'], { encoding: 'utf8' });
  return /--offline/.test(help.stdout) ? false : 'this systemd-analyze cannot score a unit file offline (systemd 250 or later can)';
}

describe('systemd/sopgate.service', () => {
  test(`systemd-analyze security scores it ${MAX_EXPOSURE} or lower, with no key it does not understand`, { skip: analyzerSkip() }, () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // A misspelt or unsupported key is ignored with a warning: a sandbox that is not there.
    assert.equal(r.stderr, '', 'warnings about the unit');
    const score = Number(/Overall exposure level for sopgate\.service: (\d+(?:\.\d+)?)/.exec(r.stdout)?.[1]);
    assert.ok(score <= MAX_EXPOSURE, `exposure ${score}:\n${r.stdout.split('\n').filter((l) => l.includes('✗')).join('\n')}`);
  });

  test('keeps what the gateway needs: GPIO and serial devices and groups, a JIT, network sockets', () => {
    assert.deepEqual(values('SupplementaryGroups'), ['gpio dialout']);
    assert.deepEqual(values('DevicePolicy'), ['closed']);
    const allowed = values('DeviceAllow');
    for (const device of ['char-gpiochip', 'char-ttyS', 'char-ttyAMA', 'char-ttyUSB', 'char-ttyACM']) {
      assert.ok(allowed.includes(`${device} rw`), `DeviceAllow=${device} rw`);
    }
    // Each of these would break the gateway on a board: no devices, groups mapped away, no JIT.
    for (const key of ['PrivateDevices', 'PrivateUsers', 'MemoryDenyWriteExecute', 'PrivateNetwork']) {
      assert.deepEqual(values(key), [], `${key}= must not be set`);
    }
    const families = values('RestrictAddressFamilies').join(' ').split(/\s+/);
    for (const family of ['AF_UNIX', 'AF_INET', 'AF_INET6']) assert.ok(families.includes(family), family);
    // Shell steps run: the allow list is systemd's set for ordinary services.
    assert.deepEqual(values('SystemCallFilter')[0], '@system-service');
    assert.deepEqual(values('ReadWritePaths'), ['/etc/sopgate /var/lib/sopgate']);
  });
});
