import { PGlite } from '@electric-sql/pglite';
import { canonicalEnvelope } from '@onestop/events';
import { createEmbeddedEventStore } from '../src/index.js';
import { eventStoreContract } from './contract.js';

eventStoreContract('embedded (PGlite)', async () => {
  const db = new PGlite();
  const store = await createEmbeddedEventStore({ db });
  return {
    store,
    sql: async (text, params) => (await db.query(text, params)).rows,
    async slowAppend(streamId, event, holdMs) {
      // PGlite has one connection: the slow transaction holds every other writer back
      await db.transaction(async (tx) => {
        const { subject: _s, id, type, schemaVersion, data, ...metadata } = event;
        await tx.query('SELECT * FROM eventstore.append($1, -2, $2::jsonb)', [
          streamId,
          JSON.stringify([{ id, type, version: schemaVersion, data, metadata, canonical: canonicalEnvelope(event) }]),
        ]);
        await new Promise((r) => setTimeout(r, holdMs));
      });
    },
    async close() {
      await store.close();
      await db.close();
    },
  };
});
