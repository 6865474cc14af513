// sysfs numbers GPIO lines globally: a line's number is its chip's base plus its offset, and
// the base is not fixed (since kernel 6.6 a Pi 4's header chip starts at 512, so BCM 17 is
// 529). So numbers are worked out from <root>/gpiochip*/base and label, never assumed.
// The root is a parameter so that this is tested on a tree of plain files.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LineRef } from '../../config/board-profile.js';

export const SYSFS_ROOT = '/sys/class/gpio';

/** The labels of the chips that carry the 40-pin header's GPIO<n> lines on Raspberry Pi boards. */
export const HEADER_CHIP_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'];

export interface SysfsChip {
  /** The folder: gpiochip<base>. */
  dir: string;
  base: number;
  ngpio: number;
  label: string;
  /** The character device's name ("gpiochip0"), found under device/, when the kernel shows it. */
  device: string | null;
}

export function listSysfsChips(root: string): SysfsChip[] {
  const chips: SysfsChip[] = [];
  for (const dir of readdirSync(root).filter((d) => /^gpiochip\d+$/.test(d)).sort()) {
    const read = (name: string) => readFileSync(join(root, dir, name), 'utf8').trim();
    let device: string | null = null;
    try {
      device = readdirSync(join(root, dir, 'device')).find((d) => /^gpiochip\d+$/.test(d)) ?? null;
    } catch {
      // older kernels have no device link here
    }
    chips.push({ dir, base: Number(read('base')), ngpio: Number(read('ngpio')), label: read('label'), device });
  }
  return chips;
}

/**
 * The sysfs number of `line`: an offset on `chip`, or a "GPIO<n>" header name (BCM
 * numbering) on `chip` or, without one, on the Raspberry Pi's header chip. `chip` may be
 * the chip's label ("pinctrl-bcm2711"), its character device name ("gpiochip0") or its
 * sysfs folder ("gpiochip512").
 */
export function resolveSysfsLine(root: string, chip: string | null, line: LineRef): { ok: true; number: number } | { ok: false; error: string } {
  let chips: SysfsChip[];
  try {
    chips = listSysfsChips(root);
  } catch (err) {
    return { ok: false, error: `cannot list GPIO chips in ${root}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const shown = chips.map((c) => `${c.label} (${c.dir}${c.device === null ? '' : `, ${c.device}`})`).join(', ') || 'none';
  const found = chip === null
    ? chips.find((c) => HEADER_CHIP_LABELS.includes(c.label))
    : chips.find((c) => c.label === chip || c.device === chip || c.dir === chip);
  if (found === undefined) {
    if (chip !== null) return { ok: false, error: `no chip "${chip}" in ${root} (chips: ${shown})` };
    return { ok: false, error: `no Raspberry Pi header chip (${HEADER_CHIP_LABELS.join(', ')}) in ${root} (chips: ${shown}); set chip in [board]` };
  }
  let offset: number;
  if (typeof line === 'number') offset = line;
  else {
    const m = /^GPIO(\d+)$/.exec(line);
    if (m === null) return { ok: false, error: `sysfs has no line names: write line = <offset> (with chip), or a header name such as "GPIO17"` };
    offset = Number(m[1]);
  }
  if (!Number.isFinite(found.base) || offset >= found.ngpio) {
    return { ok: false, error: `line ${JSON.stringify(line)}: offset ${offset} is beyond ${found.label}'s ${found.ngpio} lines` };
  }
  return { ok: true, number: found.base + offset };
}
