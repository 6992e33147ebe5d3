import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { OneStopError, type Encrypted } from '@onestop/events';
import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS keyring;
-- One AES-256 data key per person, stored only wrapped by a master key.
-- Erasure sets wrapped_key to NULL: the ciphertext in the append-only event log
-- becomes unreadable for good (crypto-shredding) while the log and its hash
-- chain stay intact.
CREATE TABLE IF NOT EXISTS keyring.person_keys (
  person_id  text PRIMARY KEY,
  master_kid text NOT NULL,
  wrapped_key bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_at timestamptz,
  erased_at  timestamptz
);
-- MVCC keeps the row version an erasure replaced (with the wrapped key) in the
-- table's pages until the table is rewritten. This row says up to which
-- erasure the table was last rewritten (VACUUM FULL), so that a rewrite an
-- erasure could not finish (a crash) is done by the next process that starts.
CREATE TABLE IF NOT EXISTS keyring.shredding (
  id int PRIMARY KEY CHECK (id = 1),
  shredded_through timestamptz NOT NULL
);
INSERT INTO keyring.shredding (id, shredded_through) VALUES (1, '-infinity') ON CONFLICT (id) DO NOTHING;
`;

/** The channel on which an erasure tells every process to forget the person's key (LISTEN/NOTIFY; payload: the person id). */
export const KEY_ERASED_CHANNEL = 'onestop_person_key_erased';

/** Master keys by id; the active one wraps new data keys. */
export interface MasterKeys {
  activeKid: string;
  keys: Map<string, Buffer>;
}

/** Parses `kid:base64[,kid:base64…]` (ONESTOP_MASTER_KEYS). */
export function parseMasterKeys(spec: string): MasterKeys {
  const keys = new Map<string, Buffer>();
  let activeKid = '';
  for (const part of spec.split(',')) {
    const [kid, b64] = part.split(':');
    const key = Buffer.from(b64 ?? '', 'base64');
    if (!kid || key.length !== 32) throw new Error(`master key ${kid ?? '?'} must be 32 bytes of base64`);
    keys.set(kid, key);
    activeKid ||= kid;
  }
  return { activeKid, keys };
}

export class PersonDataErased extends OneStopError {
  constructor(personId: string) {
    super('personal_data_erased', `the personal data of ${personId} has been erased`, 410, { personId });
  }
}

function seal(key: Buffer, plaintext: Buffer, aad: string): { iv: Buffer; ct: Buffer; tag: Buffer } {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { iv, ct, tag: c.getAuthTag() };
}

function open(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer, aad: string): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

/**
 * Per-person encryption (DESIGN §6): an AES-256-GCM data key per person,
 * wrapped by a master key. Ciphertexts are bound to the person (AAD), so they
 * cannot be moved to another person's record.
 */
export class PersonKeyring {
  // Unwrapped keys are cached only while this process hears every erasure of
  // every other process (LISTEN on KEY_ERASED_CHANNEL): an erasure's NOTIFY is
  // sent by its own commit, so a key is forgotten everywhere within the time a
  // notification takes to arrive (milliseconds), not after a TTL. Before the
  // subscription is up, and whenever it drops, nothing is cached: every
  // decryption reads the key from the table, which the erasure already emptied.
  private readonly cache = new Map<string, Buffer>();
  private live = false;
  // bumped by every invalidation: a key read before one is not cached after it
  private epoch = 0;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: SqlDriver,
    private masters: MasterKeys,
  ) {}

  /** Starts hearing of other processes' erasures; only from then on are keys cached. */
  async start(): Promise<void> {
    this.unlisten ??= await this.db.listen(
      KEY_ERASED_CHANNEL,
      (personId) => {
        this.epoch += 1;
        if (personId) this.cache.delete(personId);
        else {
          // (re)subscribed: whatever happened meanwhile, start from nothing
          this.cache.clear();
          this.live = true;
        }
      },
      () => {
        this.epoch += 1;
        this.live = false;
        this.cache.clear();
      },
    );
  }

  /** Whether the person's unwrapped key is held in this process's memory (diagnostics, tests). */
  holdsKey(personId: string): boolean {
    return this.cache.has(personId);
  }

  /** Stops hearing of erasures and forgets every key. */
  async close(): Promise<void> {
    this.live = false;
    this.cache.clear();
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.();
  }

  async migrate(): Promise<void> {
    await applySchema(this.db, 7411070, SCHEMA);
  }

  /** Creates the person's data key (idempotent). */
  async createKey(personId: string): Promise<void> {
    const dataKey = randomBytes(32);
    const master = this.masters.keys.get(this.masters.activeKid)!;
    const w = seal(master, dataKey, `dk:${personId}`);
    const created = await this.db.query(
      `INSERT INTO keyring.person_keys (person_id, master_kid, wrapped_key) VALUES ($1, $2, $3)
       ON CONFLICT (person_id) DO NOTHING RETURNING person_id`,
      [personId, this.masters.activeKid, Buffer.concat([w.iv, w.tag, w.ct])],
    );
    // the key is used at once (the registration encrypts with it): no need to read back what was just stored
    if (created.length === 1 && this.live) this.cache.set(personId, dataKey);
  }

  private async dataKey(personId: string): Promise<Buffer> {
    const hit = this.cache.get(personId);
    if (hit) return hit;
    const epoch = this.epoch;
    const rows = await this.db.query<{ master_kid: string; wrapped_key: Uint8Array | null }>(
      'SELECT master_kid, wrapped_key FROM keyring.person_keys WHERE person_id = $1',
      [personId],
    );
    const row = rows[0];
    if (!row || !row.wrapped_key) throw new PersonDataErased(personId);
    const master = this.masters.keys.get(row.master_kid);
    if (!master) throw new Error(`master key ${row.master_kid} is not configured`);
    const w = Buffer.from(row.wrapped_key);
    const key = open(master, w.subarray(0, 12), w.subarray(28), w.subarray(12, 28), `dk:${personId}`);
    if (this.live && epoch === this.epoch) this.cache.set(personId, key);
    return key;
  }

  /** Encrypts a JSON value with the person's data key. */
  async encrypt(personId: string, value: unknown): Promise<Encrypted> {
    const key = await this.dataKey(personId);
    const s = seal(key, Buffer.from(JSON.stringify(value), 'utf8'), personId);
    return { alg: 'A256GCM', kid: personId, iv: s.iv.toString('base64'), ct: s.ct.toString('base64'), tag: s.tag.toString('base64') };
  }

  /**
   * Encrypts bytes (an uploaded document) with the person's data key, bound to
   * `context` (the document's id) as additional data: a ciphertext moved to
   * another document's row does not open. Throws PersonDataErased after erasure.
   */
  async encryptBytes(personId: string, bytes: Buffer, context: string): Promise<{ iv: Buffer; ct: Buffer; tag: Buffer }> {
    return seal(await this.dataKey(personId), bytes, `${personId}:${context}`);
  }

  /** Decrypts what encryptBytes sealed; throws PersonDataErased once the person's key is destroyed. */
  async decryptBytes(personId: string, sealed: { iv: Buffer; ct: Buffer; tag: Buffer }, context: string): Promise<Buffer> {
    return open(await this.dataKey(personId), sealed.iv, sealed.ct, sealed.tag, `${personId}:${context}`);
  }

  /** Decrypts a value; throws PersonDataErased once the person's key is destroyed. */
  async decrypt<T = unknown>(enc: Encrypted): Promise<T> {
    const key = await this.dataKey(enc.kid);
    const plain = open(key, Buffer.from(enc.iv, 'base64'), Buffer.from(enc.ct, 'base64'), Buffer.from(enc.tag, 'base64'), enc.kid);
    return JSON.parse(plain.toString('utf8')) as T;
  }

  /** Decrypts, or returns undefined when the data was erased. */
  async tryDecrypt<T = unknown>(enc: Encrypted | undefined): Promise<T | undefined> {
    if (!enc) return undefined;
    try {
      return await this.decrypt<T>(enc);
    } catch (e) {
      if (e instanceof PersonDataErased) return undefined;
      throw e;
    }
  }

  async isErased(personId: string): Promise<boolean> {
    const rows = await this.db.query<{ erased: boolean }>(
      'SELECT wrapped_key IS NULL AS erased FROM keyring.person_keys WHERE person_id = $1',
      [personId],
    );
    return rows[0]?.erased ?? false;
  }

  /**
   * Destroys the person's data key (crypto-shredding): empties it and tells
   * every process in the same transaction (the NOTIFY goes out with the
   * commit), then removes the row versions that still hold it (`shred`).
   */
  async erase(personId: string): Promise<void> {
    this.cache.delete(personId);
    this.epoch += 1;
    await this.db.transaction(async (q) => {
      await q(`UPDATE keyring.person_keys SET wrapped_key = NULL, erased_at = coalesce(erased_at, now()) WHERE person_id = $1`, [personId]);
      await q('SELECT pg_notify($1, $2)', [KEY_ERASED_CHANNEL, personId]);
    });
    this.cache.delete(personId);
    await this.shred();
  }

  /**
   * Rewrites the keyring table when an erasure happened since its last
   * rewrite, so that no page of it holds an erased person's wrapped key in an
   * old row version (an UPDATE leaves the previous version in place; plain
   * VACUUM only marks it free, its bytes stay in the page). VACUUM FULL writes
   * the live rows into new files and drops the old ones; it cannot run inside
   * a transaction, and processes doing it at once queue on its lock. It runs
   * after every erasure and at start (a crash between the two is caught up).
   * Returns whether it rewrote the table.
   */
  async shred(): Promise<boolean> {
    const [due] = await this.db.query<{ through: string | null; xid: string | null }>(
      `SELECT max(k.erased_at)::text AS through, (array_agg(k.xmin::text ORDER BY age(k.xmin)))[1] AS xid
         FROM keyring.person_keys k, keyring.shredding s
        WHERE s.id = 1 AND k.erased_at > s.shredded_through`,
    );
    if (!due?.through || !due.xid) return false;
    // A transaction whose snapshot is older than the (youngest) erasure still
    // sees the old row version, and no VACUUM may remove it. Snapshots taken
    // later cannot see it: so wait a little for the older ones to end. If they
    // do not, the rewrite is not marked done, and the next erasure or start
    // does it again.
    for (const deadline = Date.now() + 5000; ; ) {
      const [older] = await this.db
        .query<{ n: number | string }>(
          `SELECT count(*) AS n FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND (age(backend_xmin) >= age($1::xid) OR age(backend_xid) >= age($1::xid))`,
          [due.xid],
        )
        .catch(() => [{ n: 0 }]); // (the embedded PGlite has no other backend)
      if (Number(older?.n ?? 0) === 0) break;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.db.query('VACUUM (FULL) keyring.person_keys');
    await this.db.query('UPDATE keyring.shredding SET shredded_through = greatest(shredded_through, $1::timestamptz) WHERE id = 1', [due.through]);
    return true;
  }

  /**
   * Re-wraps every data key with the active master key (after a new one was put
   * first in ONESTOP_MASTER_KEYS). No event is touched. Returns the count.
   */
  async rotate(onProgress?: (done: number) => void): Promise<number> {
    const active = this.masters.keys.get(this.masters.activeKid)!;
    let done = 0;
    for (;;) {
      const rows = await this.db.query<{ person_id: string; master_kid: string; wrapped_key: Uint8Array }>(
        `SELECT person_id, master_kid, wrapped_key FROM keyring.person_keys
          WHERE wrapped_key IS NOT NULL AND master_kid <> $1 ORDER BY person_id LIMIT 500`,
        [this.masters.activeKid],
      );
      if (rows.length === 0) return done;
      for (const r of rows) {
        const old = this.masters.keys.get(r.master_kid);
        if (!old) throw new Error(`master key ${r.master_kid} is not configured; keep it until rotation is done`);
        const w = Buffer.from(r.wrapped_key);
        const key = open(old, w.subarray(0, 12), w.subarray(28), w.subarray(12, 28), `dk:${r.person_id}`);
        const n = seal(active, key, `dk:${r.person_id}`);
        await this.db.query(
          `UPDATE keyring.person_keys SET master_kid = $2, wrapped_key = $3, rotated_at = now()
            WHERE person_id = $1 AND master_kid = $4 AND wrapped_key IS NOT NULL`,
          [r.person_id, this.masters.activeKid, Buffer.concat([n.iv, n.tag, n.ct]), r.master_kid],
        );
        done += 1;
      }
      onProgress?.(done);
    }
  }
}

/** Keyed digest for looking up a value (a fiscal code) without storing it in clear. */
export function blindIndex(indexKey: string, value: string): string {
  return createHmac('sha256', Buffer.from(indexKey, 'base64')).update(value, 'utf8').digest('hex');
}
