export * from './port.js';
export { EmbeddedBus, type BusLogger } from './embedded.js';
export { SqlDeadLetters } from './dead-letters.js';
export { handleWithRetries, isPermanent, validateBatch, type Incoming, type Rejected } from './handling.js';
