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
`;

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
  // Unwrapped keys are cached briefly; erasure clears the local cache at once,
  // and other processes stop using an erased key within the TTL.
  private readonly cache = new Map<string, { key: Buffer; until: number }>();

  constructor(
    private readonly db: SqlDriver,
    private masters: MasterKeys,
    private readonly cacheTtlMs = 10_000,
  ) {}

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
    if (created.length === 1) this.cache.set(personId, { key: dataKey, until: Date.now() + this.cacheTtlMs });
  }

  private async dataKey(personId: string): Promise<Buffer> {
    const hit = this.cache.get(personId);
    if (hit && hit.until > Date.now()) return hit.key;
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
    this.cache.set(personId, { key, until: Date.now() + this.cacheTtlMs });
    return key;
  }

  /** Encrypts a JSON value with the person's data key. */
  async encrypt(personId: string, value: unknown): Promise<Encrypted> {
    const key = await this.dataKey(personId);
    const s = seal(key, Buffer.from(JSON.stringify(value), 'utf8'), personId);
    return { alg: 'A256GCM', kid: personId, iv: s.iv.toString('base64'), ct: s.ct.toString('base64'), tag: s.tag.toString('base64') };
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

  /** Destroys the person's data key (crypto-shredding). */
  async erase(personId: string): Promise<void> {
    this.cache.delete(personId);
    await this.db.query(
      `UPDATE keyring.person_keys SET wrapped_key = NULL, erased_at = coalesce(erased_at, now()) WHERE person_id = $1`,
      [personId],
    );
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
