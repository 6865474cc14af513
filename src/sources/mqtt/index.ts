// The embedded MQTT broker source (docs/mqtt.md).
export { EmbeddedBroker, type BrokerDeps, type BrokerStats } from './broker.js';
export { hashPassword, verifyPassword } from './password.js';
