// Stands in for the `debug` package inside the bundle. mqtt-packet traces every packet
// through it, and the real one builds an argument array per call even when switched off:
// at tens of thousands of messages a second that was a visible share of the garbage. The
// gateway has no DEBUG switch; its own logger covers what an operator needs.
module.exports = function createDebug() {
  const debug = () => {};
  debug.enabled = false;
  debug.extend = () => debug;
  return debug;
};
