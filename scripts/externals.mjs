// What the bundle leaves out: native packages, installed beside it by `npm install --omit=dev`
// (package.json `dependencies`). Of serialport only the binding with its .node file stays
// out; its JavaScript (@serialport/stream) is bundled.
export const EXTERNAL = ['better-sqlite3', '@serialport/bindings-cpp', 'onoff', 'epoll'];
