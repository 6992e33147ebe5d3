import type { KurrentEventStore, KurrentEventStoreOptions } from './kurrentdb.js';

/**
 * Connects to KurrentDB and returns the KurrentDB adapter of the EventStore
 * port. The KurrentDB client (gRPC stack and a native addon) is loaded on the
 * first call only, so importing `@onestop/eventstore` stays cheap for the
 * services that run on PostgreSQL or PGlite.
 */
export async function createKurrentEventStore(options: KurrentEventStoreOptions): Promise<KurrentEventStore> {
  const { createKurrentEventStore: create } = await import('./kurrentdb.js');
  return create(options);
}
