// The embedded MQTT broker source (DESIGN.md §6).
export { EmbeddedBroker, type BrokerDeps, type BrokerStats } from './broker.js';
export { hashPassword, verifyPassword } from './password.js';
