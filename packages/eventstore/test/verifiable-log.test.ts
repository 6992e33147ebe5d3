import { generateKeyPairSync } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalEnvelope, type RawRecordedEvent } from '@onestop/events';
import { MerkleLog, createEmbeddedEventStore, linkHash, type SqlEventStore } from '../src/index.js';
import {
  SIGNATURE_TYPE,
  checkpointBody,
  consistentWith,
  formatNote,
  noteBody,
  parseCheckpoint,
  signNote,
  verifierOf,
  verifyCheckpointConsistency,
  verifyReceipt,
} from '../src/merkle/index.js';
import { ev } from './contract.js';

// Tampering the hash chains cannot see, seen by the Merkle tree. Each case
// rewrites a log the way an insider with database access could, keeping every
// stream's hash chain valid, then rebuilds the tree and signs a new checkpoint:
// the witness's check (consistentWith, what `onestop witness` runs) and the
// auditor's offline verifier (verifyCheckpointConsistency, verifyReceipt, what
// `onestop verify-proof` runs) must both refuse it.

const ORIGIN = 'test.onestop.example/log';
const key = generateKeyPairSync('ed25519').privateKey;
const trust = { log: verifierOf(ORIGIN, SIGNATURE_TYPE.note, key) };

interface Log {
  db: PGlite;
  store: SqlEventStore;
}
const opened: Log[] = [];
afterEach(async () => {
  for (const l of opened.splice(0)) {
    await l.store.close();
    await l.db.close();
  }
});

async function openLog(): Promise<Log> {
  const db = new PGlite();
  const store = await createEmbeddedEventStore({ db });
  const l = { db, store };
  opened.push(l);
  // three streams, interleaved in the global log
  for (let round = 0; round < 3; round++) {
    for (const s of ['person-a', 'person-b', 'referral-c']) await store.append(s, [ev(s, { recordedBy: `op-${round}` })], round === 0 ? 'no_stream' : round - 1);
  }
  return l;
}

/** The log signs a checkpoint of its tree as it is (a fresh tree reader: the tree as stored now). */
async function sign(tree: MerkleLog): Promise<string> {
  const head = await tree.catchUp();
  const body = checkpointBody(ORIGIN, head.size, await tree.rootHash(head.size));
  return formatNote({ body, signatures: [signNote(body, ORIGIN, key)] });
}

const all = (l: Log) => l.store.readAll({ maxCount: 1000 });
const size = (note: string) => parseCheckpoint(noteBody(note)).size;

/** The insider rebuilds the tree from the altered log and has the log sign it, after a little more traffic. */
async function rebuiltCheckpoint(l: Log, more = 2): Promise<{ tree: MerkleLog; note: string }> {
  await l.db.exec('DELETE FROM eventstore.merkle_nodes; DELETE FROM eventstore.merkle_leaves;');
  for (let i = 0; i < more; i++) await l.store.append('person-d', [ev('person-d')], 'any');
  const tree = new MerkleLog(l.store.driver, () => {
    throw new Error('not followed here');
  });
  return { tree, note: await sign(tree) };
}

/** Re-hashes a stream's chain from `from` on, as a careful forger would: the chain verifies again. */
async function rehash(l: Log, streamId: string): Promise<void> {
  let prev: string | null = null;
  for (const e of await l.store.readStream(streamId)) {
    const hash = linkHash(prev, e.streamPosition, canonicalEnvelope(e));
    await l.db.query(`UPDATE eventstore.events SET hash = decode($3, 'hex'), prev_hash = decode($2, 'hex') WHERE stream_id = $1 AND stream_position = $4`, [
      streamId,
      prev,
      hash,
      e.streamPosition,
    ]);
    prev = hash;
  }
  expect(await l.store.verifyStream(streamId)).toMatchObject({ ok: true });
}

/** Both refuse: the witness's own check and the auditor's verifier. */
async function refusedByWitnessAndVerifier(before: string, after: { tree: MerkleLog; note: string }): Promise<string> {
  const [m, n] = [size(before), size(after.note)];
  const proof = m <= n ? await after.tree.consistencyProof(m, n) : [];
  const witness = consistentWith(parseCheckpoint(noteBody(before)), parseCheckpoint(noteBody(after.note)), proof);
  const verifier = verifyCheckpointConsistency({ from: before, to: after.note, proof }, trust);
  expect(witness.ok).toBe(false);
  expect(verifier.ok).toBe(false);
  return (verifier as { reason: string }).reason;
}

describe('the verifiable log detects what the hash chains cannot', () => {
  it('an honest log: the later checkpoint extends the earlier one, and a receipt verifies with the event recomputed', async () => {
    const l = await openLog();
    const c1 = await sign(l.store.log);
    const e = (await all(l))[4]!;
    const receipt = { checkpoint: c1, inclusionProof: (await l.store.log.inclusionProof(e.globalPosition, size(c1)))! };
    await l.store.append('person-d', [ev('person-d')], 'no_stream');
    const c2 = await sign(l.store.log);
    const proof = await l.store.log.consistencyProof(size(c1), size(c2));
    expect(consistentWith(parseCheckpoint(noteBody(c1)), parseCheckpoint(noteBody(c2)), proof)).toMatchObject({ ok: true });
    expect(verifyCheckpointConsistency({ from: c1, to: c2, proof }, trust)).toMatchObject({ ok: true });
    expect(verifyReceipt(receipt, trust, e)).toMatchObject({ ok: true, leafIndex: 4 });
    // a checkpoint signed by another key is not the log's
    const other = generateKeyPairSync('ed25519').privateKey;
    const body = noteBody(c2);
    expect(verifyCheckpointConsistency({ from: c1, to: formatNote({ body, signatures: [signNote(body, ORIGIN, other)] }), proof }, trust)).toMatchObject({ ok: false });
  });

  it('an edited event (its stream re-hashed so that its chain verifies)', async () => {
    const l = await openLog();
    const c1 = await sign(l.store.log);
    const target = (await all(l)).find((x) => x.subject === 'person-a' && x.streamPosition === 1)!;
    const receipt = { checkpoint: c1, inclusionProof: (await l.store.log.inclusionProof(target.globalPosition, size(c1)))! };
    await l.db.query(`UPDATE eventstore.events SET data = jsonb_set(data, '{recordedBy}', '"someone else"') WHERE global_position = $1`, [target.globalPosition]);
    await rehash(l, 'person-a');
    const reason = await refusedByWitnessAndVerifier(c1, await rebuiltCheckpoint(l));
    expect(reason).toMatch(/does not extend/);
    // the receipt the partner kept no longer matches the event as it is stored now
    const edited = (await all(l)).find((x) => x.id === target.id)! as RawRecordedEvent;
    expect(verifyReceipt(receipt, trust, edited)).toMatchObject({ ok: false, reason: expect.stringMatching(/is not the leaf the receipt proves/) });
    expect(verifyReceipt(receipt, trust, target)).toMatchObject({ ok: true });
  });

  it('a removed event (the last of its stream: the chain still verifies)', async () => {
    const l = await openLog();
    const c1 = await sign(l.store.log);
    await l.db.query(`DELETE FROM eventstore.events WHERE stream_id = 'person-b' AND stream_position = 2`);
    expect(await l.store.verifyStream('person-b')).toMatchObject({ ok: true, events: 2 });
    expect(await refusedByWitnessAndVerifier(c1, await rebuiltCheckpoint(l))).toMatch(/does not extend/);
  });

  it('a reordered pair (two events of different streams swap places in the global log: every chain still verifies)', async () => {
    const l = await openLog();
    const c1 = await sign(l.store.log);
    const [a, b] = (await all(l)).slice(3, 5);
    // (through a free position: the primary key is checked row by row)
    await l.db.query('UPDATE eventstore.events SET global_position = -1 WHERE global_position = $1', [a!.globalPosition]);
    await l.db.query('UPDATE eventstore.events SET global_position = $1 WHERE global_position = $2', [a!.globalPosition, b!.globalPosition]);
    await l.db.query('UPDATE eventstore.events SET global_position = $1 WHERE global_position = -1', [b!.globalPosition]);
    for (const s of ['person-a', 'person-b', 'referral-c']) expect(await l.store.verifyStream(s)).toMatchObject({ ok: true });
    expect(await refusedByWitnessAndVerifier(c1, await rebuiltCheckpoint(l))).toMatch(/does not extend/);
  });

  it('a forked history: a rolled-back last event and another in its place, signed at the same size', async () => {
    const l = await openLog();
    const c1 = await sign(l.store.log);
    const last = (await all(l)).at(-1)!;
    await l.db.query('DELETE FROM eventstore.events WHERE global_position = $1', [last.globalPosition]);
    const forked = await rebuiltCheckpoint(l, 1);
    expect(size(forked.note)).toBe(size(c1));
    expect(await refusedByWitnessAndVerifier(c1, forked)).toMatch(/forked/);
    // and a log that shrank is a rollback
    await l.db.query(`DELETE FROM eventstore.events WHERE stream_id = 'person-d'`);
    const shrunk = await rebuiltCheckpoint(l, 0);
    expect(consistentWith(parseCheckpoint(noteBody(c1)), parseCheckpoint(noteBody(shrunk.note)), [])).toMatchObject({ ok: false, reason: expect.stringMatching(/shrank/) });
  });
});
