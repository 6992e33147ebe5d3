import { PGlite } from '@electric-sql/pglite';
import { createEmbeddedEventStore } from '../src/index.js';
import { eventStoreContract, rawAppend } from './contract.js';

eventStoreContract('embedded (PGlite)', async () => {
  const db = new PGlite();
  const store = await createEmbeddedEventStore({ db });
  return {
    store,
    sql: async (text, params) => (await db.query(text, params)).rows,
    slowAppend(streamId, event) {
      // PGlite has one connection: the slow transaction holds every other writer back
      let release = () => undefined as void;
      const released = new Promise<void>((r) => (release = r));
      let holding!: (position: number) => void;
      let failed!: (e: unknown) => void;
      const held = new Promise<number>((resolve, reject) => ((holding = resolve), (failed = reject)));
      const committed = db
        .transaction(async (tx) => {
          const call = rawAppend(streamId, event);
          const { rows } = await tx.query<{ global_positions: unknown[] }>(call.text, call.values);
          holding(Number(rows[0]!.global_positions[0]));
          await released;
        })
        .then(
          () => undefined,
          (e: unknown) => {
            failed(e);
            throw e;
          },
        );
      committed.catch(() => undefined);
      return { holding: held, release, committed, mode: 'serial' as const };
    },
    async close() {
      await store.close();
      await db.close();
    },
  };
});
