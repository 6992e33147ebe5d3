export * from './port.js';
export { linkHash, verifyChain } from './chain.js';
export { CatchUpSubscription, CheckpointLoadError, LogSubscription, Wakeup, matches, type CatchUpSource, type LogStep } from './catch-up.js';
export { applySchema, splitSql, sqlLiteral, toHex, toNumber, type SqlDriver } from './driver.js';
export { SqlEventStore, type MigrationReport, type SqlEventStoreOptions } from './sql-store.js';
export { PgDriver, createPostgresEventStore, type PostgresEventStoreOptions } from './postgres.js';
export { PGliteDriver, createEmbeddedEventStore, type EmbeddedEventStoreOptions } from './pglite.js';
// KurrentDB: the factory loads the KurrentDB client on first use only
export { createKurrentEventStore } from './kurrentdb-lazy.js';
export type { KurrentEventStore, KurrentEventStoreOptions } from './kurrentdb.js';
export { FilteredCatchUpSubscription, type FilteredLogSource } from './kurrentdb-subscription.js';
export { MerkleLog } from './merkle/sql-tree.js';
export * as merkle from './merkle/index.js';
export { receiptFor, type Receipt } from './merkle/receipt.js';
