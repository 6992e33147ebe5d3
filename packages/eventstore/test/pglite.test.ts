import { PGlite } from '@electric-sql/pglite';
import { createEmbeddedEventStore } from '../src/index.js';
import { eventStoreContract, rawAppend } from './contract.js';

eventStoreContract('embedded (PGlite)', async () => {
  const db = new PGlite();
  const store = await createEmbeddedEventStore({ db });
  return {
    store,
    sql: async (text, params) => (await db.query(text, params)).rows,
    async slowAppend(streamId, event, holdMs) {
      // PGlite has one connection: the slow transaction holds every other writer back
      await db.transaction(async (tx) => {
        const call = rawAppend(streamId, event);
        await tx.query(call.text, call.values);
        await new Promise((r) => setTimeout(r, holdMs));
      });
    },
    async close() {
      await store.close();
      await db.close();
    },
  };
});
