import type { SqlDriver, StreamHead } from '@onestop/eventstore';
import { toNumber } from '@onestop/eventstore';
import type { DigestHead, StreamHeadsDigest } from './digest.js';

// Every digest the platform signs is also recorded here, with the heads it was
// made of, so that verification can tell an empty or shrunken log from a
// healthy one: a log that lost events still has sound hash chains.
//
// Why a table and not an event in an `audit-` stream: the record must outlive
// what it guards. An event would sit in the very log it vouches for, and go
// with it when that log is emptied, truncated or hidden (a logical restore
// whose transaction ids the store does not see: 0 events, and 0 digests).
// A row in its own `audit` schema stays; it is not in the `projections`
// schema either, which a rebuild of the read models replaces. It lives in the
// database of the read models (the event store's own on PostgreSQL and
// PGlite), so a dump of that database carries it along.
export const SIGNED_DIGESTS_SQL = `
CREATE SCHEMA IF NOT EXISTS audit;

-- One row per signed digest. heads: {streamId: [revision, head hash]} at its position.
CREATE TABLE IF NOT EXISTS audit.signed_digests (
  id           bigserial PRIMARY KEY,
  position     bigint NOT NULL,
  streams      integer NOT NULL,
  events       bigint NOT NULL,
  heads_sha256 text NOT NULL,
  key_id       text NOT NULL,
  signed_at    timestamptz NOT NULL,
  signature    text NOT NULL,
  heads        jsonb NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
-- the highest position first: the digest a verification compares with
CREATE INDEX IF NOT EXISTS signed_digests_position_idx ON audit.signed_digests (position DESC, events DESC, id DESC);
`;

/** A digest as recorded, with the heads it was made of. */
export interface SignedDigestRecord extends StreamHeadsDigest {
  /** events up to its position: the sum of (revision + 1) over its heads */
  events: number;
  heads: Map<string, { revision: number; hash: string }>;
}

/** What a digest said, in a verification's answer. */
export interface ComparedDigest {
  position: number;
  streams: number;
  events: number;
  signedAt: string;
  keyId: string;
  headsSha256: string;
}

/** A stream whose head is behind the one a digest names. */
export interface ShrunkStream {
  streamId: string;
  /** its revision now (-1: no event left) */
  revision: number;
  digestRevision: number;
}

/** How the log compares with the last signed digest. */
export interface DigestComparison {
  comparedWith: ComparedDigest;
  /** a sentence for the operator when the log holds less than the digest; null when it holds at least as much */
  warning: string | null;
  /** streams the digest names that the log no longer has (the first 100) */
  missingStreams: string[];
  missingCount: number;
  /** streams at a lower revision than in the digest (the first 100) */
  shrunkStreams: ShrunkStream[];
  shrunkCount: number;
  /** streams at the digest's revision whose head hash differs: rewritten (the first 100) */
  rewrittenStreams: string[];
  rewrittenCount: number;
}

const LISTED = 100;
const NAMED = 5;

const eventsOf = (heads: readonly Pick<StreamHead, 'revision'>[]) => heads.reduce((n, h) => n + h.revision + 1, 0);

const streams = (n: number) => `${n} stream${n === 1 ? '' : 's'}`;

const named = (ids: readonly string[], count: number) =>
  `${ids.slice(0, NAMED).join(', ')}${count > NAMED ? `, and ${count - NAMED} more` : ''}`;

/**
 * Compares the log's current heads with a recorded digest. Pure. A log only
 * grows, so every stream the digest names must still be there, at its
 * revision or beyond, with the same head hash where the revision is the same.
 */
export function compareWithDigest(
  current: readonly Pick<StreamHead, 'streamId' | 'revision' | 'hash'>[],
  headPosition: number,
  digest: SignedDigestRecord,
): DigestComparison {
  const now = new Map(current.map((h) => [h.streamId, h]));
  const missing: string[] = [];
  const shrunk: ShrunkStream[] = [];
  const rewritten: string[] = [];
  for (const [streamId, then] of [...digest.heads].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const head = now.get(streamId);
    if (!head) missing.push(streamId);
    else if (head.revision < then.revision) shrunk.push({ streamId, revision: head.revision, digestRevision: then.revision });
    else if (head.revision === then.revision && head.hash !== then.hash) rewritten.push(streamId);
  }
  const events = eventsOf(current);
  const comparedWith: ComparedDigest = {
    position: digest.position,
    streams: digest.streams,
    events: digest.events,
    signedAt: digest.signedAt,
    keyId: digest.keyId,
    headsSha256: digest.headsSha256,
  };
  const of = `the digest signed ${digest.signedAt} (position ${digest.position}: ${digest.streams} streams, ${digest.events} events)`;
  let warning: string | null = null;
  if (current.length === 0 && digest.streams > 0) {
    warning = `the log is empty (0 streams, 0 events), yet ${of} names ${digest.streams} streams: its events were lost, deleted or are hidden from the store (e.g. by a restore).`;
  } else {
    const problems: string[] = [];
    if (events < digest.events) problems.push(`it has ${events} events, fewer than the digest's ${digest.events}`);
    if (current.length < digest.streams) problems.push(`it has ${streams(current.length)}, fewer than the digest's ${digest.streams}`);
    if (headPosition < digest.position) problems.push(`its head is at position ${headPosition}, before the digest's ${digest.position}`);
    if (missing.length) problems.push(`${streams(missing.length)} of the digest ${missing.length === 1 ? 'is' : 'are'} missing: ${named(missing, missing.length)}`);
    if (shrunk.length) {
      const list = shrunk.map((s) => `${s.streamId} at revision ${s.revision}, not ${s.digestRevision}`);
      problems.push(`${streams(shrunk.length)} ${shrunk.length === 1 ? 'is' : 'are'} behind its head in the digest: ${named(list, list.length)}`);
    }
    if (rewritten.length) problems.push(`${streams(rewritten.length)} with another head than the digest at the same revision (rewritten): ${named(rewritten, rewritten.length)}`);
    if (problems.length) warning = `the log holds less than ${of}: ${problems.join('; ')}.`;
  }
  return {
    comparedWith,
    warning,
    missingStreams: missing.slice(0, LISTED),
    missingCount: missing.length,
    shrunkStreams: shrunk.slice(0, LISTED),
    shrunkCount: shrunk.length,
    rewrittenStreams: rewritten.slice(0, LISTED),
    rewrittenCount: rewritten.length,
  };
}

/** The record of every signed digest (table audit.signed_digests). */
export class SignedDigests {
  constructor(private readonly db: SqlDriver) {}

  async migrate(): Promise<void> {
    await this.db.exec(SIGNED_DIGESTS_SQL);
  }

  /** Records a digest that was just signed, with the heads it was made of. */
  async record(digest: StreamHeadsDigest, heads: readonly DigestHead[]): Promise<void> {
    const map: Record<string, [number, string]> = {};
    for (const h of heads) map[h.streamId] = [h.revision, h.hash];
    await this.db.query(
      `INSERT INTO audit.signed_digests (position, streams, events, heads_sha256, key_id, signed_at, signature, heads)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
      [digest.position, digest.streams, eventsOf(heads), digest.headsSha256, digest.keyId, digest.signedAt, digest.signature, JSON.stringify(map)],
    );
  }

  /**
   * The digest a verification compares with: the one at the highest position
   * (the most the log was ever vouched to hold); among equals the one with
   * the most events (a log emptied to position 0 and signed with --allow-empty
   * does not hide a digest of it before), then the latest.
   */
  async last(): Promise<SignedDigestRecord | null> {
    const [row] = await this.db.query<Record<string, unknown>>(
      `SELECT position, streams, events, heads_sha256, key_id, signed_at, signature, heads
         FROM audit.signed_digests ORDER BY position DESC, events DESC, id DESC LIMIT 1`,
    );
    if (!row) return null;
    const raw = (typeof row.heads === 'string' ? JSON.parse(row.heads) : row.heads) as Record<string, [number, string]>;
    return {
      position: toNumber(row.position),
      streams: Number(row.streams),
      events: toNumber(row.events),
      headsSha256: row.heads_sha256 as string,
      keyId: row.key_id as string,
      signedAt: new Date(row.signed_at as string).toISOString(),
      signature: row.signature as string,
      heads: new Map(Object.entries(raw).map(([streamId, [revision, hash]]) => [streamId, { revision, hash }])),
    };
  }
}
