export * from './port.js';
export { linkHash, verifyChain } from './chain.js';
export { CatchUpSubscription, Wakeup, matches, type CatchUpSource } from './catch-up.js';
export { applySchema, splitSql, toHex, toNumber, type SqlDriver } from './driver.js';
export { SqlEventStore, type SqlEventStoreOptions } from './sql-store.js';
export { PgDriver, createPostgresEventStore, type PostgresEventStoreOptions } from './postgres.js';
export { PGliteDriver, createEmbeddedEventStore, type EmbeddedEventStoreOptions } from './pglite.js';
