import { loadAggregate, transact, type ServiceContext } from '@onestop/kit';
import { DuplicateFiscalCode, personDecider, personStream } from './domain/person.js';
import { fiscalCodeDecider, fiscalCodeStream } from './domain/fiscal-code-reservation.js';

/**
 * Stores written before the fiscal code's reservation stream (DESIGN §9) kept
 * the one-person-per-fiscal-code rule in a claim table. Before that table goes
 * (PersonIndex.migrate drops it), every claim of a registered person becomes
 * its reservation, through the same decider and expected revision as a
 * registration: safe on several processes at once and beside live commands.
 */
export async function backfillFiscalCodes(ctx: ServiceContext): Promise<{ reserved: number; conflicts: number }> {
  const [exists] = await ctx.db.query<{ present: boolean }>(`SELECT to_regclass('intake.fiscal_code_claims') IS NOT NULL AS present`);
  if (!exists?.present) return { reserved: 0, conflicts: 0 };
  const claims = await ctx.db.query<{ digest: string; person_id: string }>('SELECT digest, person_id FROM intake.fiscal_code_claims ORDER BY claimed_at');
  let reserved = 0;
  let conflicts = 0;
  const ec = { source: '/onestop/intake', actor: { id: 'fiscal-code-backfill', role: 'system' as const }, correlationId: 'migration:fiscal-codes-v1', causationId: null, time: ctx.clock.now().toISOString() };
  for (const c of claims) {
    // a claim whose registration never completed, or whose person was erased, reserves nothing
    if ((await loadAggregate(ctx.store, personStream(c.person_id), personDecider)).state.status !== 'registered') continue;
    try {
      const { appended } = await transact(ctx.store, ec, async (uow) => {
        const reservation = await uow.load(fiscalCodeStream(c.digest), fiscalCodeDecider, { partitionKey: c.person_id });
        reservation.decide({ type: 'ReserveFiscalCode', personId: c.person_id, holderErased: false });
      });
      reserved += appended.length;
    } catch (e) {
      if (!(e instanceof DuplicateFiscalCode)) throw e;
      conflicts += 1;
    }
  }
  if (reserved + conflicts > 0) ctx.logger.warn({ reserved, conflicts }, 'fiscal-code reservations backfilled from the claim table of an earlier version');
  return { reserved, conflicts };
}
