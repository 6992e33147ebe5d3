/** The little a SQL event-store adapter needs from its database client. */
export interface SqlDriver {
  /** One statement with parameters (one round trip); `name` prepares it once per connection. */
  query<R = Record<string, unknown>>(text: string, params?: unknown[], name?: string): Promise<R[]>;
  /** Runs several statements (DDL) as one script. */
  exec(script: string): Promise<void>;
  /** Runs `fn` in one transaction on one connection. */
  transaction<T>(fn: (q: SqlDriver['query']) => Promise<T>): Promise<T>;
  /** Subscribes to a notification channel from other processes; returns the unsubscribe function. */
  listen(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
  /** Tells other processes listening on the channel; a no-op where there are none. */
  notify(channel: string): Promise<void>;
  close(): Promise<void>;
}

/** Normalises the int8 values drivers return (string, bigint or number). */
export const toNumber = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** Normalises bytea values (Buffer or Uint8Array) to lowercase hex. */
export const toHex = (v: unknown): string | null =>
  v == null ? null : Buffer.from(v as Uint8Array).toString('hex');
