import type { InclusionProof, VerifiableLog } from '../port.js';

/** A receipt of one event: its place in the verifiable log and, once a checkpoint covers it, the proof. */
export interface Receipt {
  eventId: string;
  globalPosition: number;
  /** included: checkpoint and inclusion proof are here; pending: the tree or a checkpoint has not reached the event yet */
  status: 'included' | 'pending';
  /** where to fetch it later (the auditors' API of the projections service) */
  href: string;
  /** the C2SP signed note (with the cosignatures it had) */
  checkpoint?: string;
  /** whether that checkpoint is final (witnessed as the policy asks) */
  final?: boolean;
  inclusionProof?: InclusionProof;
}

/** The receipt of an event at the latest checkpoint that holds it; pending (with where to fetch it) when none does yet, or the store keeps no tree. */
export async function receiptFor(log: VerifiableLog | undefined, eventId: string, globalPosition: number): Promise<Receipt> {
  const href = `/audit/log/receipts/${eventId}`;
  const checkpoint = log ? await log.checkpointCovering(globalPosition, false) : undefined;
  const inclusionProof = checkpoint ? await log!.inclusionProof(globalPosition, checkpoint.treeSize) : undefined;
  if (!checkpoint || !inclusionProof) return { eventId, globalPosition, status: 'pending', href };
  return { eventId, globalPosition, status: 'included', href, checkpoint: checkpoint.note, final: checkpoint.finalAt !== null, inclusionProof };
}
