import { PGlite } from '@electric-sql/pglite';
import type { SqlDriver } from './driver.js';
import { SqlEventStore, type SqlEventStoreOptions } from './sql-store.js';

/**
 * PGlite (PostgreSQL in WebAssembly, in-process) driver. One connection, so
 * statements run one after another; wake-ups never leave the process.
 */
export class PGliteDriver implements SqlDriver {
  constructor(
    readonly db: PGlite,
    private readonly ownsDb = false,
  ) {}

  async query<R>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await this.db.query<R>(text, params)).rows;
  }

  async exec(script: string): Promise<void> {
    await this.db.exec(script);
  }

  async script<R>(statements: string): Promise<R[]> {
    return ((await this.db.exec(statements)).at(-1)?.rows ?? []) as R[];
  }

  async transaction<T>(fn: (q: SqlDriver['query']) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) =>
      fn(async <R>(text: string, params: unknown[] = []) => (await tx.query<R>(text, params)).rows),
    );
  }

  // One process holds the embedded database: there is no other process to
  // hear from, so the subscription is live at once and never drops.
  async listen(_channel: string, onNotify: (payload: string | undefined) => void): Promise<() => Promise<void>> {
    onNotify(undefined);
    return async () => undefined;
  }

  async notify(): Promise<void> {}

  async close(): Promise<void> {
    if (this.ownsDb) await this.db.close();
  }
}

export interface EmbeddedEventStoreOptions extends SqlEventStoreOptions {
  /** directory for the data (kept across restarts); in memory when omitted */
  dataDir?: string;
  /** an existing PGlite instance shared with read models (the caller closes it) */
  db?: PGlite;
}

/** The embedded adapter of the EventStore port: the same SQL on PGlite. */
export async function createEmbeddedEventStore(options: EmbeddedEventStoreOptions = {}): Promise<SqlEventStore> {
  const db = options.db ?? (options.dataDir ? new PGlite(options.dataDir) : new PGlite());
  const store = new SqlEventStore(new PGliteDriver(db, !options.db), options);
  await store.migrate();
  return store;
}
