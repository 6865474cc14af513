// GPIO signals of board profiles: one GpioBoard per board, over one of three backends.
export type { BackendContext, BackendFactory, BackendLines, BackendSink, GpioBackend, LineState, WriteResult } from './backend.js';
export { defaultBackend, GpioBoard, type GpioBoardDeps, type SignalState } from './board.js';
export { Debouncer } from './debounce.js';
export { GpiodBackend, type GpiodOptions } from './gpiod.js';
export { SimBackend, SIM_WRITES_KEPT } from './sim.js';
export { StatusLed, BLINK_MS } from './status-led.js';
export { SysfsBackend, type SysfsOptions } from './sysfs.js';
export { resolveSysfsLine, SYSFS_ROOT } from './sysfs-lines.js';
