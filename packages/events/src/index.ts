export * from './primitives.js';
export * from './catalog.js';
export * from './envelope.js';
export * from './canonical.js';
export * from './errors.js';
export * from './parse.js';
export * from './topics.js';
export * from './create.js';
export { exportJsonSchemas, exportAsyncApi } from './json-schema.js';
