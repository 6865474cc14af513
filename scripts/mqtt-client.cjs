// Stands in for `mqtt` inside dist/sopgate.cjs. The upstream connection's client (mqtt.js
// with ws, socks and the rest it brings, ~680 KB) is a bundle of its own beside it,
// dist/mqtt-client.cjs (build.mjs): V8 keeps a loaded script's source in memory for the
// process's whole life, and only a gateway with an [upstream] table loads this one.
module.exports = require(require('node:path').join(__dirname, 'mqtt-client.cjs'));
