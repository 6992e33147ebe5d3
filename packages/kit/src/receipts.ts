import { z } from 'zod';
import { receiptFor, type EventStore, type Receipt } from '@onestop/eventstore';

// Receipts of the verifiable log in HTTP answers (a referral answer, the
// subject-access export): the checkpoint and the inclusion proof of an event,
// or, while no checkpoint covers it yet (the tree follows the log a batch
// behind and checkpoints are signed every few seconds), `pending` with the
// route that gives it later. Additive: a store without a tree gives `pending`.

const InclusionProofSchema = z.object({
  globalPosition: z.number(),
  leafIndex: z.number().describe('the event’s rank in global order'),
  treeSize: z.number(),
  leafHash: z.string().describe('base64 SHA-256(0x00 ‖ the event’s stored hash)'),
  proof: z.array(z.string()).describe('base64 hashes, RFC 9162 §2.1.3'),
});

export const ReceiptSchema = z
  .object({
    eventId: z.string(),
    globalPosition: z.number(),
    status: z.enum(['included', 'pending']).describe('pending: no checkpoint covers the event yet; fetch the receipt later from href'),
    href: z.string().describe('GET it from the projections service (auditors, and the partner of the referral)'),
    checkpoint: z.string().optional().describe('C2SP signed note'),
    final: z.boolean().optional().describe('whether the checkpoint met the witness policy'),
    inclusionProof: InclusionProofSchema.optional(),
  })
  .describe('the event in the verifiable log: `onestop verify-proof --receipt` checks it offline');

/** The receipt of a stored event, by its id; undefined when the store does not know it. */
export async function receiptOf(store: EventStore, eventId: string): Promise<Receipt | undefined> {
  const at = await store.log?.locate(eventId);
  return at ? receiptFor(store.log, eventId, at.globalPosition) : undefined;
}
