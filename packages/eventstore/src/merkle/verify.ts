import { canonicalEnvelope, type RawRecordedEvent } from '@onestop/events';
import { linkHash } from '../chain.js';
import type { InclusionProof } from '../port.js';
import { NoteError, parseNote, verifyCheckpoint, type Checkpoint, type Verifier } from './note.js';
import { leafHash, verifyConsistency, verifyInclusion } from './tree.js';

// What an auditor's offline verifier and a witness check, with no database:
// the log's signature on a checkpoint (and the witnesses' where a policy asks),
// an event's inclusion in a checkpoint, and the consistency of two checkpoints.

/** Who signs: the log's key, the witnesses' keys and how many of them must have cosigned. */
export interface TrustPolicy {
  log: Verifier;
  witnesses?: readonly Verifier[];
  quorum?: number;
}

export type Verdict<T = object> = ({ ok: true } & T) | { ok: false; reason: string };

const b64 = (x: string) => Buffer.from(x, 'base64');

function checked(note: string, trust: TrustPolicy): Verdict<{ checkpoint: Checkpoint; cosignedBy: string[] }> {
  try {
    return { ok: true, ...verifyCheckpoint(note, trust.log, trust.witnesses ?? [], trust.quorum ?? 0) };
  } catch (e) {
    if (e instanceof NoteError) return { ok: false, reason: `checkpoint: ${e.message}` };
    throw e;
  }
}

/** A signed checkpoint: the log's signature and the witness policy. */
export function verifySignedCheckpoint(note: string, trust: TrustPolicy): Verdict<{ checkpoint: Checkpoint; cosignedBy: string[] }> {
  return checked(note, trust);
}

/**
 * A receipt: the checkpoint verifies, and the inclusion proof takes the
 * event's leaf to its root. With the event itself (as stored, e.g. from a case
 * history), its hash is recomputed from its content first: an event edited
 * since no longer hashes to the leaf the log committed to.
 */
export function verifyReceipt(
  receipt: { checkpoint: string; inclusionProof: InclusionProof },
  trust: TrustPolicy,
  event?: RawRecordedEvent,
): Verdict<{ checkpoint: Checkpoint; cosignedBy: string[]; leafIndex: number }> {
  const cp = checked(receipt.checkpoint, trust);
  if (!cp.ok) return cp;
  const p = receipt.inclusionProof;
  if (p.treeSize !== cp.checkpoint.size) return { ok: false, reason: `the proof is for a tree of ${p.treeSize}, the checkpoint has ${cp.checkpoint.size}` };
  let leaf: Buffer = b64(p.leafHash);
  if (event) {
    const recomputed = linkHash(event.prevHash, event.streamPosition, canonicalEnvelope(event));
    if (recomputed !== event.hash) return { ok: false, reason: `event ${event.id}: its content does not hash to its stored hash (edited)` };
    leaf = leafHash(Buffer.from(recomputed, 'hex'));
    if (!leaf.equals(b64(p.leafHash))) return { ok: false, reason: `event ${event.id}: its hash is not the leaf the receipt proves` };
    if (event.globalPosition !== p.globalPosition) return { ok: false, reason: `event ${event.id}: at position ${event.globalPosition}, the receipt says ${p.globalPosition}` };
  }
  if (!verifyInclusion(p.leafIndex, p.treeSize, leaf, p.proof.map(b64), cp.checkpoint.rootHash)) {
    return { ok: false, reason: `the inclusion proof of leaf ${p.leafIndex} does not lead to the root of checkpoint ${cp.checkpoint.size}` };
  }
  return { ...cp, leafIndex: p.leafIndex };
}

/** Two checkpoints of the same log and the consistency proof between them: the later one extends the earlier. */
export function verifyCheckpointConsistency(
  c: { from: string; to: string; proof: readonly string[] },
  trust: TrustPolicy,
): Verdict<{ from: Checkpoint; to: Checkpoint }> {
  const a = checked(c.from, trust);
  if (!a.ok) return a;
  const b = checked(c.to, trust);
  if (!b.ok) return b;
  return consistentWith(a.checkpoint, b.checkpoint, c.proof);
}

/** The tree of `to` extends the tree of `from` (same origin, the proof holds; equal sizes: equal roots). */
export function consistentWith(from: Checkpoint, to: Checkpoint, proof: readonly string[]): Verdict<{ from: Checkpoint; to: Checkpoint }> {
  if (from.origin !== to.origin) return { ok: false, reason: `checkpoints of two logs ("${from.origin}", "${to.origin}")` };
  if (to.size < from.size) return { ok: false, reason: `the log shrank: ${to.size} leaves after ${from.size} (a rollback)` };
  if (to.size === from.size && !to.rootHash.equals(from.rootHash)) {
    return { ok: false, reason: `two different trees of ${to.size} leaves: a forked history` };
  }
  if (!verifyConsistency(from.size, to.size, proof.map(b64), from.rootHash, to.rootHash)) {
    return { ok: false, reason: `the tree of ${to.size} leaves does not extend the one of ${from.size}: history was rewritten (an event edited, removed or moved) or forked` };
  }
  return { ok: true, from, to };
}

/** The checkpoint body of a signed note (what a witness cosigns). */
export const noteBody = (note: string): string => parseNote(note).body;
