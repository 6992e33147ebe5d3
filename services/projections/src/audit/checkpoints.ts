import type { KeyObject } from 'node:crypto';
import { ConflictError, NotFoundError, RuleViolation } from '@onestop/events';
import { receiptFor, type EventStore, type InclusionProof, type Receipt, type StoredCheckpoint, type Subscription, type VerifiableLog } from '@onestop/eventstore';
import {
  NoteError,
  SIGNATURE_TYPE,
  checkpointBody,
  formatNote,
  formatVkey,
  parseNote,
  parseVkey,
  signNote,
  verifierOf,
  verifySignature,
  type Verifier,
} from '@onestop/eventstore/merkle';
import type { BaseConfig } from '@onestop/kit';

// The verifiable log's checkpoints (C2SP tlog-checkpoint), signed with the
// audit signing key, and the witnesses' cosignatures (C2SP tlog-cosignature).
// A checkpoint is final once the configured witness policy is met: k of the
// configured witnesses cosigned it (0 of none: final when the log signs it).

export type WitnessConfig = Pick<BaseConfig, 'ONESTOP_LOG_ORIGIN' | 'ONESTOP_WITNESSES' | 'ONESTOP_WITNESS_QUORUM'>;

/** The configured witnesses (their vkeys) and how many must cosign. */
export function witnessPolicy(config: WitnessConfig): { witnesses: Verifier[]; quorum: number } {
  const witnesses = (config.ONESTOP_WITNESSES ?? []).map((vkey, i) => {
    try {
      const v = parseVkey(vkey);
      if (v.type !== SIGNATURE_TYPE.cosignature) throw new NoteError('a witness vkey is of a cosigner (type 0x04)');
      return v;
    } catch (e) {
      throw new RuleViolation('invalid_configuration', `ONESTOP_WITNESSES: witness ${i + 1}: ${(e as Error).message}`);
    }
  });
  return { witnesses, quorum: config.ONESTOP_WITNESS_QUORUM ?? (witnesses.length > 0 ? 1 : 0) };
}

export class Checkpoints {
  readonly origin: string;
  readonly witnesses: Verifier[];
  readonly quorum: number;
  private following: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: EventStore,
    config: WitnessConfig,
    private readonly privateKey: () => KeyObject,
  ) {
    this.origin = config.ONESTOP_LOG_ORIGIN;
    ({ witnesses: this.witnesses, quorum: this.quorum } = witnessPolicy(config));
  }

  /** The store's Merkle tree; KurrentDB keeps none yet (README: what it would need). */
  get log(): VerifiableLog {
    const log = this.store.log;
    if (!log) throw new RuleViolation('not_supported', 'this event store keeps no verifiable log (PostgreSQL and the embedded store do; KurrentDB not yet)');
    return log;
  }

  /** The log's verifier key (vkey), for auditors and witnesses. */
  vkey(): string {
    return formatVkey(verifierOf(this.origin, SIGNATURE_TYPE.note, this.privateKey()));
  }

  /** Follows the global log into the tree and signs a checkpoint every `intervalMs` the tree has grown. */
  async start(intervalMs: number, onError: (e: unknown) => void): Promise<() => Promise<void>> {
    if (!this.store.log) return async () => undefined;
    this.following = await this.log.follow({ onError });
    if (intervalMs > 0) {
      const tick = () => {
        this.timer = setTimeout(() => {
          this.sign().then(() => undefined, onError).finally(() => this.timer && tick());
        }, intervalMs);
      };
      tick();
    }
    return async () => {
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.following?.stop();
    };
  }

  /**
   * Signs a checkpoint of the tree as it is now (after adding what the log
   * holds), unless the latest one already has that size. Two processes
   * signing the same size store one note: Ed25519 signatures are deterministic.
   */
  async sign(): Promise<StoredCheckpoint | undefined> {
    const head = await this.log.catchUp();
    const latest = await this.log.checkpoint();
    if (head.size === 0 || (latest && latest.treeSize >= head.size)) return latest;
    const root = await this.log.rootHash(head.size);
    const body = checkpointBody(this.origin, head.size, root);
    const note = formatNote({ body, signatures: [signNote(body, this.origin, this.privateKey())] });
    await this.log.saveCheckpoint(head.size, root.toString('base64'), note);
    if (this.quorum === 0) await this.log.markFinal(head.size);
    return this.log.checkpoint({ size: head.size });
  }

  async checkpoint(which: { size?: number; final?: boolean } = {}): Promise<StoredCheckpoint> {
    const c = await this.log.checkpoint(which);
    if (!c) throw new NotFoundError(which.final ? 'final checkpoint' : 'checkpoint', which.size === undefined ? 'latest' : String(which.size));
    return c;
  }

  /**
   * Takes a witness's cosignature line for a checkpoint: it must be one of the
   * configured witnesses' and verify over that checkpoint's body (a witness
   * checks consistency before it signs; the log checks the signature).
   */
  async cosign(treeSize: number, line: string): Promise<StoredCheckpoint> {
    const c = await this.checkpoint({ size: treeSize });
    const { body } = parseNote(c.note);
    let signature;
    try {
      [signature] = parseNote(`${body}\n${line.trim()}\n`).signatures;
    } catch {
      throw new RuleViolation('cosignature_malformed', 'a cosignature is one line "— <witness name> <base64(key ID ‖ timestamp ‖ signature)>"');
    }
    const witness = this.witnesses.find((w) => verifySignature(body, signature!, w).ok);
    if (!witness) {
      throw new RuleViolation('cosignature_invalid', `the cosignature is not a valid one of a configured witness over checkpoint ${treeSize}`, {
        witnesses: this.witnesses.map((w) => w.name),
      });
    }
    return this.log.addCosignature(treeSize, witness.name, signature!.line, this.quorum);
  }

  /** The inclusion proof of an event in the tree of a checkpoint (default: the latest), with that checkpoint. */
  async inclusion(globalPosition: number, treeSize?: number): Promise<{ checkpoint: StoredCheckpoint; inclusionProof: InclusionProof }> {
    const checkpoint = await this.checkpoint(treeSize === undefined ? {} : { size: treeSize });
    const inclusionProof = await this.log.inclusionProof(globalPosition, checkpoint.treeSize);
    if (!inclusionProof) {
      throw new ConflictError('not_in_checkpoint', `the event at position ${globalPosition} is not in the tree of checkpoint ${checkpoint.treeSize} (not yet, or no such event)`);
    }
    return { checkpoint, inclusionProof };
  }

  /** The consistency proof between two checkpoints, with both. */
  async consistency(from: number, to: number): Promise<{ from: StoredCheckpoint; to: StoredCheckpoint; proof: string[] }> {
    if (from > to) throw new RuleViolation('sizes_out_of_order', `from (${from}) is larger than to (${to})`);
    const [a, b] = [await this.checkpoint({ size: from }), await this.checkpoint({ size: to })];
    return { from: a, to: b, proof: await this.log.consistencyProof(from, to) };
  }

  /** A receipt of one event: the proof at the latest checkpoint that holds it, or where to fetch it later. */
  receipt(eventId: string, globalPosition: number): Promise<Receipt> {
    return receiptFor(this.store.log, eventId, globalPosition);
  }
}
