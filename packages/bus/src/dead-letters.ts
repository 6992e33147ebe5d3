import { applySchema, type SqlDriver } from '@onestop/eventstore';
import type { DeadLetter } from './port.js';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS bus;
-- Messages a consumer could not handle, with the reason. Nothing is dropped:
-- an operator fixes the cause and replays them.
CREATE TABLE IF NOT EXISTS bus.dead_letters (
  id         bigserial PRIMARY KEY,
  consumer_group text NOT NULL,
  reason     text NOT NULL,
  origin     text NOT NULL,
  message_key text,
  payload    jsonb,
  headers    jsonb NOT NULL DEFAULT '{}',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (consumer_group, origin)
);
`;

// PostgreSQL refuses NUL in text and jsonb, and lone surrogates in jsonb; a
// hostile message may carry both. The DLQ keeps the original bytes; SQL keeps a
// faithful-enough copy that an operator can read.
const text = (s: string): string => s.replace(/\0/g, '\uFFFD');
const jsonb = (v: unknown): string =>
  JSON.stringify(v).replace(/\\u0000|\\ud[89a-f][0-9a-f]{2}/gi, '\\ufffd');

/** Dead letters kept in SQL (the embedded bus has no DLQ topic). */
export class SqlDeadLetters {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411071, SCHEMA);
  }

  /** Records a dead letter once per (group, origin): redelivery does not duplicate it. */
  async record(d: DeadLetter): Promise<void> {
    await this.db.query(
      `INSERT INTO bus.dead_letters (consumer_group, reason, origin, message_key, payload, headers)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb) ON CONFLICT (consumer_group, origin) DO NOTHING`,
      [text(d.group), text(d.reason), text(d.origin), d.key == null ? null : text(d.key), jsonb(d.payload ?? null), jsonb(d.headers)],
    );
  }

  /** Records many dead letters in one round trip per few MB; same once-per-(group, origin) rule. */
  async recordMany(letters: readonly DeadLetter[]): Promise<void> {
    let rows: string[][] = [];
    let bytes = 0;
    const flush = async () => {
      if (rows.length === 0) return;
      const columns = rows[0]!.map((_, i) => rows.map((r) => r[i]!));
      rows = [];
      bytes = 0;
      await this.db.query(
        `INSERT INTO bus.dead_letters (consumer_group, reason, origin, message_key, payload, headers)
         SELECT g, r, o, k, p::jsonb, h::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(g, r, o, k, p, h)
         ON CONFLICT (consumer_group, origin) DO NOTHING`,
        columns,
      );
    };
    for (const d of letters) {
      const row = [text(d.group), text(d.reason), text(d.origin), d.key == null ? null : text(d.key), jsonb(d.payload ?? null), jsonb(d.headers)];
      const size = row.reduce((n, v) => n + (v?.length ?? 0), 0);
      if (bytes + size > 4_000_000) await flush();
      rows.push(row as string[]);
      bytes += size;
    }
    await flush();
  }

  async list(group?: string, limit = 100): Promise<DeadLetter[]> {
    const rows = await this.db.query<{ consumer_group: string; reason: string; origin: string; message_key: string | null; payload: unknown; headers: Record<string, string> }>(
      `SELECT consumer_group, reason, origin, message_key, payload, headers FROM bus.dead_letters
        WHERE ($1::text IS NULL OR consumer_group = $1) ORDER BY id DESC LIMIT $2`,
      [group ?? null, limit],
    );
    return rows.map((r) => ({ group: r.consumer_group, reason: r.reason, origin: r.origin, key: r.message_key, payload: r.payload, headers: r.headers }));
  }
}
