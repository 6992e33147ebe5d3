import pg from 'pg';
import type { SqlDriver } from './driver.js';
import { SqlEventStore, type SqlEventStoreOptions } from './sql-store.js';

// Errors the store raises on purpose; anything else may have left the session
// in an unknown state (e.g. a cancelled append inside its short advisory lock),
// so that connection is discarded rather than returned to the pool.
const EXPECTED_ERRORS = new Set(['P0409', 'P0422', '23505', '22023', '25000']);

/** node-postgres driver on a pool. */
export class PgDriver implements SqlDriver {
  constructor(
    readonly pool: pg.Pool,
    private readonly ownsPool = false,
  ) {
    // An idle connection dropped by the server (restart, failover) must not
    // crash the process: the pool replaces it on the next query.
    if (ownsPool) pool.on('error', () => undefined);
  }

  async query<R>(text: string, params: unknown[] = [], name?: string): Promise<R[]> {
    const client = await this.pool.connect();
    try {
      const res = await client.query({ text, values: params, ...(name ? { name } : {}) });
      client.release();
      return res.rows as R[];
    } catch (e) {
      client.release(EXPECTED_ERRORS.has((e as { code?: string }).code ?? '') ? undefined : (e as Error));
      throw e;
    }
  }

  async exec(script: string): Promise<void> {
    await this.pool.query(script);
  }

  async script<R>(statements: string): Promise<R[]> {
    const res = (await this.pool.query(statements)) as unknown as pg.QueryResult | pg.QueryResult[];
    return ((Array.isArray(res) ? res.at(-1) : res)?.rows ?? []) as R[];
  }

  async transaction<T>(fn: (q: SqlDriver['query']) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(async <R>(text: string, params: unknown[] = [], name?: string) => {
        const res = await client.query({ text, values: params, ...(name ? { name } : {}) });
        return res.rows as R[];
      });
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(e as Error);
      throw e;
    }
  }

  async listen(channel: string, onNotify: (payload: string | undefined) => void, onLost?: () => void): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let closed = false;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      const c = new pg.Client(this.pool.options);
      c.on('notification', (n) => onNotify(n.payload || undefined));
      c.on('error', () => {
        // the subscriber keeps polling slowly meanwhile; reconnect and wake it in case we missed a signal
        onLost?.();
        c.end().catch(() => undefined);
        if (!closed) retry = setTimeout(() => void connect().catch(() => undefined), 1000);
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
        client = c;
        onNotify(undefined);
      } catch {
        c.end().catch(() => undefined);
        if (!closed) retry = setTimeout(() => void connect().catch(() => undefined), 1000);
      }
    };
    await connect();
    return async () => {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    };
  }

  async notify(channel: string, payload?: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [channel, payload ?? null]);
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

export interface PostgresEventStoreOptions extends SqlEventStoreOptions {
  connectionString?: string;
  /** an existing pool (the caller closes it); otherwise one is created and owned */
  pool?: pg.Pool;
  /** pool size when the store creates its pool */
  maxConnections?: number;
  /** create or update the schema on start (default true) */
  migrate?: boolean;
}

/** The PostgreSQL adapter of the EventStore port. */
export async function createPostgresEventStore(options: PostgresEventStoreOptions): Promise<SqlEventStore> {
  const pool =
    options.pool ??
    new pg.Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 20 });
  const store = new SqlEventStore(new PgDriver(pool, !options.pool), options);
  if (options.migrate !== false) await store.migrate();
  return store;
}
