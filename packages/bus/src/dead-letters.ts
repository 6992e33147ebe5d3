import { applySchema, type SqlDriver } from '@onestop/eventstore';
import type { DeadLetter, DeadLetterStatus, NewDeadLetter, Redrive } from './port.js';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS bus;
-- Messages a consumer could not handle, with the reason. Nothing is dropped:
-- an operator fixes the cause and re-drives them (onestop dlq redrive).
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
-- Re-drive. status: open, redrive_requested (embedded bus: its consumer picks
-- it up), redriven (handed back to its group), resolved (its group handled it),
-- redrive_failed (it failed again: the new dead letter names it in redrive_of;
-- no foreign key, so that removing old letters never blocks recording new ones).
-- The original bytes (Kafka, up to 64 KiB) are kept so that a re-drive hands
-- the group exactly what it failed on; payload is the operator's readable copy.
ALTER TABLE bus.dead_letters
  ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'open',
  ADD COLUMN IF NOT EXISTS redrive_of bigint,
  ADD COLUMN IF NOT EXISTS raw_key bytea,
  ADD COLUMN IF NOT EXISTS raw_value bytea,
  ADD COLUMN IF NOT EXISTS redriven_at timestamptz,
  ADD COLUMN IF NOT EXISTS redriven_by text,
  ADD COLUMN IF NOT EXISTS redrive_reason text;
CREATE INDEX IF NOT EXISTS dead_letters_group_status ON bus.dead_letters (consumer_group, status);
-- Every re-drive (the columns above show the last one): who, when, why.
CREATE TABLE IF NOT EXISTS bus.dead_letter_redrives (
  id             bigserial PRIMARY KEY,
  dead_letter_id bigint NOT NULL REFERENCES bus.dead_letters (id),
  redriven_at    timestamptz NOT NULL DEFAULT now(),
  redriven_by    text NOT NULL,
  reason         text NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letter_redrives_letter ON bus.dead_letter_redrives (dead_letter_id);
`;

// PostgreSQL refuses NUL in text and jsonb, and lone surrogates in jsonb; a
// hostile message may carry both. The DLQ keeps the original bytes; SQL keeps a
// faithful-enough copy that an operator can read.
const text = (s: string): string => s.replace(/\0/g, '\uFFFD');
const jsonb = (v: unknown): string =>
  JSON.stringify(v).replace(/\\u0000|\\ud[89a-f][0-9a-f]{2}/gi, '\\ufffd');
const hex = (b: Buffer | null | undefined): string | null => (b == null ? null : `\\x${b.toString('hex')}`);
/** The dead letter a re-driven message came from (never a header of the message: anyone can write those). */
const redriveOf = (d: NewDeadLetter): string | null => (d.redriveOf != null && /^\d{1,18}$/.test(d.redriveOf) ? d.redriveOf : null);

interface Row {
  id: string;
  consumer_group: string;
  reason: string;
  origin: string;
  message_key: string | null;
  payload: unknown;
  headers: Record<string, string>;
  recorded_at: Date | string;
  status: DeadLetterStatus;
  redrive_of: string | null;
  redriven_at: Date | string | null;
  redriven_by: string | null;
  redrive_reason: string | null;
}
const COLUMNS = 'id::text AS id, consumer_group, reason, origin, message_key, payload, headers, recorded_at, status, redrive_of::text AS redrive_of, redriven_at, redriven_by, redrive_reason';
const iso = (v: Date | string) => new Date(v).toISOString();

function letterOf(r: Row): DeadLetter {
  return {
    id: r.id,
    group: r.consumer_group,
    reason: r.reason,
    origin: r.origin,
    key: r.message_key,
    payload: r.payload,
    headers: r.headers,
    recordedAt: iso(r.recorded_at),
    status: r.status,
    redriveOf: r.redrive_of,
    lastRedrive: r.redriven_at ? { at: iso(r.redriven_at), by: r.redriven_by ?? '', reason: r.redrive_reason ?? '' } : null,
  };
}

/** Which dead letters to list: newest first, `limit` (default 100) of them; `before` (an id) for the next page. */
export interface DeadLetterFilter {
  group?: string | undefined;
  status?: DeadLetterStatus | undefined;
  limit?: number | undefined;
  /** only letters with a lower id (the last id of the previous page) */
  before?: string | undefined;
}

/** The filter of `EventBus.deadLetters`, given as a filter or (the older form) as a group and a limit. */
export function deadLetterFilter(filter?: DeadLetterFilter | string, limit?: number): DeadLetterFilter {
  return typeof filter === 'object' ? filter : { group: filter, limit };
}

/** Dead letters kept in SQL (the embedded bus has no DLQ topic), with their re-drives. */
export class SqlDeadLetters {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411071, SCHEMA);
  }

  /** Records a dead letter once per (group, origin): redelivery does not duplicate it. */
  async record(d: NewDeadLetter): Promise<void> {
    await this.recordMany([d]);
  }

  /**
   * Records many dead letters in one round trip per few MB; same
   * once-per-(group, origin) rule. A re-driven message that failed again
   * names the dead letter it came from, which becomes `redrive_failed`.
   */
  async recordMany(letters: readonly NewDeadLetter[]): Promise<void> {
    let rows: Array<Array<string | null>> = [];
    let bytes = 0;
    const flush = async () => {
      if (rows.length === 0) return;
      const columns = rows[0]!.map((_, i) => rows.map((r) => r[i]!));
      rows = [];
      bytes = 0;
      await this.db.query(
        `WITH added AS (
           INSERT INTO bus.dead_letters (consumer_group, reason, origin, message_key, payload, headers, redrive_of, raw_key, raw_value)
           SELECT g, r, o, k, p::jsonb, h::jsonb, ro::bigint, rk::bytea, rv::bytea
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS t(g, r, o, k, p, h, ro, rk, rv)
           ON CONFLICT (consumer_group, origin) DO NOTHING
           RETURNING redrive_of)
         UPDATE bus.dead_letters SET status = 'redrive_failed' WHERE id IN (SELECT redrive_of FROM added WHERE redrive_of IS NOT NULL)`,
        columns,
      );
    };
    for (const d of letters) {
      const row = [
        text(d.group),
        text(d.reason),
        text(d.origin),
        d.key == null ? null : text(d.key),
        jsonb(d.payload ?? null),
        jsonb(d.headers),
        redriveOf(d),
        hex(d.raw?.key),
        hex(d.raw?.value),
      ];
      const size = row.reduce((n, v) => n + (v?.length ?? 0), 0);
      if (bytes + size > 4_000_000) await flush();
      rows.push(row);
      bytes += size;
    }
    await flush();
  }

  /** Newest first. */
  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    if (filter.before !== undefined && !/^\d{1,18}$/.test(filter.before)) return [];
    const rows = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM bus.dead_letters
        WHERE ($1::text IS NULL OR consumer_group = $1) AND ($2::text IS NULL OR status = $2) AND ($4::bigint IS NULL OR id < $4::bigint)
        ORDER BY id DESC LIMIT $3`,
      [filter.group ?? null, filter.status ?? null, filter.limit ?? 100, filter.before ?? null],
    );
    return rows.map(letterOf);
  }

  /** One dead letter with every re-drive of it, oldest first; undefined when there is none with this id. */
  async get(id: string): Promise<(DeadLetter & { redrives: Redrive[] }) | undefined> {
    if (!/^\d{1,18}$/.test(id)) return undefined;
    const [row] = await this.db.query<Row>(`SELECT ${COLUMNS} FROM bus.dead_letters WHERE id = $1::bigint`, [id]);
    if (!row) return undefined;
    const redrives = await this.db.query<{ redriven_at: Date | string; redriven_by: string; reason: string }>(
      'SELECT redriven_at, redriven_by, reason FROM bus.dead_letter_redrives WHERE dead_letter_id = $1::bigint ORDER BY id',
      [id],
    );
    return { ...letterOf(row), redrives: redrives.map((r) => ({ at: iso(r.redriven_at), by: r.redriven_by, reason: r.reason })) };
  }

  /** The original key and value bytes (Kafka), when they were kept. */
  async raw(id: string): Promise<{ key: Buffer | null; value: Buffer | null; kept: boolean }> {
    const [row] = await this.db.query<{ raw_key: Buffer | Uint8Array | null; raw_value: Buffer | Uint8Array | null }>(
      'SELECT raw_key, raw_value FROM bus.dead_letters WHERE id = $1::bigint',
      [id],
    );
    const buf = (v: Buffer | Uint8Array | null | undefined) => (v == null ? null : Buffer.from(v));
    return { key: buf(row?.raw_key), value: buf(row?.raw_value), kept: row?.raw_value != null };
  }

  /** Records a re-drive: a row of its own, and the letter's status and last re-drive. */
  async recordRedrive(id: string, r: { by: string; reason: string; status: DeadLetterStatus }): Promise<Redrive> {
    const [row] = await this.db.query<{ redriven_at: Date | string }>(
      `WITH letter AS (
         UPDATE bus.dead_letters SET status = $4, redriven_at = now(), redriven_by = $2, redrive_reason = $3 WHERE id = $1::bigint RETURNING id, redriven_at)
       INSERT INTO bus.dead_letter_redrives (dead_letter_id, redriven_at, redriven_by, reason)
       SELECT id, redriven_at, $2, $3 FROM letter RETURNING redriven_at`,
      [id, text(r.by), text(r.reason), r.status],
    );
    return { at: iso(row!.redriven_at), by: r.by, reason: r.reason };
  }

  /** Marks re-driven letters whose message their group has now handled. */
  async resolved(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(`UPDATE bus.dead_letters SET status = 'resolved' WHERE id = ANY($1::bigint[]) AND status IN ('redriven', 'redrive_requested')`, [ids]);
  }
}
