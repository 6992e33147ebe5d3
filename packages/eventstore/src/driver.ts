/** The little a SQL event-store adapter needs from its database client. */
export interface SqlDriver {
  /** One statement with parameters (one round trip); `name` prepares it once per connection. */
  query<R = Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<R[]>;
  /** Runs several statements (DDL) as one script. */
  exec(script: string): Promise<void>;
  /**
   * Several statements in one round trip and one implicit transaction (the
   * simple protocol: no parameters, values spliced in with `sqlLiteral`);
   * returns the rows of the last. Each statement is analysed only after the
   * one before it ran, so a lock taken first covers the next one's name look-ups.
   */
  script<R = Record<string, unknown>>(statements: string): Promise<R[]>;
  /** Runs `fn` in one transaction on one connection. */
  transaction<T>(fn: (q: SqlDriver['query']) => Promise<T>): Promise<T>;
  /**
   * Subscribes to a notification channel from other processes; returns the
   * unsubscribe function. `payload` is the sender's, or undefined when the
   * driver wakes the listener itself (once subscribed, and after every
   * reconnection). `onLost` is called when the subscription drops: until the
   * next `onNotify(undefined)`, notifications may be missed.
   */
  listen(channel: string, onNotify: (payload: string | undefined) => void, onLost?: () => void): Promise<() => Promise<void>>;
  /** Tells other processes listening on the channel; a no-op where there are none. */
  notify(channel: string, payload?: string): Promise<void>;
  close(): Promise<void>;
}

/** A string as an SQL literal (for `script`, which takes no parameters). */
export function sqlLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('an SQL literal cannot hold a NUL character');
  const quoted = value.replace(/'/g, "''");
  // with a backslash, the E'' form says how to read it whatever standard_conforming_strings says
  return value.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}

/** Normalises the int8 values drivers return (string, bigint or number). */
export const toNumber = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** Normalises bytea values (Buffer or Uint8Array) to lowercase hex. */
export const toHex = (v: unknown): string | null =>
  v == null ? null : typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('hex');

/** Splits a schema script into statements, keeping $$-quoted function bodies whole. */
export function splitSql(sql: string): string[] {
  const out: string[] = [];
  let buf = '';
  let inDollar = false;
  for (const line of sql.split('\n')) {
    if (!inDollar && /^\s*--/.test(line)) continue;
    buf += `${line}\n`;
    const dollars = line.match(/\$\$/g)?.length ?? 0;
    if (dollars % 2 === 1) inDollar = !inDollar;
    if (!inDollar && /;\s*$/.test(line)) {
      out.push(buf.trim());
      buf = '';
    }
  }
  if (buf.trim()) out.push(buf.trim());
  return out;
}

/**
 * SQLSTATEs of a DDL statement that lost a race with the same DDL of another
 * process: unique_violation (on a catalog index), duplicate_schema,
 * duplicate_table, duplicate_object, duplicate_function, deadlock_detected.
 */
const RACED_DDL = new Set(['23505', '42P06', '42P07', '42710', '42723', '40P01']);
/** a race is lost at most once per other process starting beside this one */
const SCHEMA_ATTEMPTS = 5;

/**
 * Applies an idempotent schema script (CREATE … IF NOT EXISTS) in one
 * transaction, under an advisory lock so processes starting together do not
 * trip over each other's DDL.
 *
 * The lock is not enough on its own: an advisory lock does not make the
 * backend take in the catalog changes committed while it waited (only a
 * relation lock or a new transaction does), and scripts of different lock keys
 * may create the same schema. So a script that still collides with another
 * process's committed DDL is applied again in a fresh transaction, which sees
 * that DDL and skips it (seen in CI: three intake replicas starting together,
 * `duplicate key value violates unique constraint "pg_namespace_nspname_index"`).
 */
export async function applySchema(driver: SqlDriver, lockKey: number, script: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await driver.transaction(async (q) => {
        await q('SELECT pg_advisory_xact_lock($1)', [lockKey]);
        for (const statement of splitSql(script)) await q(statement);
      });
      return;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (attempt >= SCHEMA_ATTEMPTS || typeof code !== 'string' || !RACED_DDL.has(code)) throw e;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.random() * 50));
    }
  }
}
