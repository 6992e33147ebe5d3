import type { SqlDriver } from '@onestop/eventstore';
import { parseMasterKeys, PersonKeyring, type MasterKeys } from './keyring.js';

export interface RotationProgress {
  /** data keys re-wrapped so far */
  rewrapped: number;
  /** data keys that were wrapped by another master key when the rotation began */
  total: number;
}

export interface RotationReport {
  /** the master key that now wraps every data key */
  activeKid: string;
  /** data keys re-wrapped by this run */
  rewrapped: number;
  /** data keys that were already wrapped by the active master key */
  alreadyActive: number;
  /** persons whose key was destroyed (erasure): nothing to re-wrap, nothing to decrypt */
  erased: number;
  /**
   * data keys still wrapped by another master key after the run: 0, unless a
   * process still configured with the old master key first created keys meanwhile
   */
  remaining: number;
}

const counts = async (db: SqlDriver, activeKid: string) => {
  const rows = await db.query<{ active: number; other: number; erased: number }>(
    `SELECT count(*) FILTER (WHERE wrapped_key IS NOT NULL AND master_kid = $1)::int AS active,
            count(*) FILTER (WHERE wrapped_key IS NOT NULL AND master_kid <> $1)::int AS other,
            count(*) FILTER (WHERE wrapped_key IS NULL)::int AS erased
       FROM keyring.person_keys`,
    [activeKid],
  );
  return rows[0]!;
};

/**
 * The master-key rotation command (`onestop keys rotate`): re-wraps every
 * per-person data key with the active master key, the first of
 * ONESTOP_MASTER_KEYS ("new:…,old:…"). Only the keyring table changes: no event
 * is read or written, so the log and its hash chains stay as they were. Once it
 * reports `remaining: 0`, the old master key can be removed from the
 * configuration. Safe to run again: keys already under the active master key
 * are left alone.
 */
export async function rotateMasterKey(
  db: SqlDriver,
  masterKeys: string | MasterKeys,
  options: { onProgress?(progress: RotationProgress): void } = {},
): Promise<RotationReport> {
  const masters = typeof masterKeys === 'string' ? parseMasterKeys(masterKeys) : masterKeys;
  const keyring = new PersonKeyring(db, masters);
  await keyring.migrate();
  const before = await counts(db, masters.activeKid);
  const rewrapped = await keyring.rotate((done) => options.onProgress?.({ rewrapped: done, total: before.other }));
  const after = await counts(db, masters.activeKid);
  return {
    activeKid: masters.activeKid,
    rewrapped,
    alreadyActive: before.active,
    erased: after.erased,
    remaining: after.other,
  };
}
