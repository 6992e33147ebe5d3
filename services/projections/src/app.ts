import type { ServiceContext, ServiceModule } from '@onestop/kit';
import { auditRoutes, verifiableLogRoutes } from './http/audit-routes.js';
import { changesRoute } from './http/changes-route.js';
import { dashboardPage } from './http/dashboard-page.js';
import { dashboardRoutes } from './http/dashboard-routes.js';
import { deadLetterRoutes } from './http/dead-letter-routes.js';
import { Projections, type ProjectionsOptions } from './projections.js';

/**
 * Projections: read models fed by the bus, dashboards, rebuild on command,
 * the auditors' trail (history, as-of replay, verification, signed digests),
 * and the admins' dead letters (list, show, re-drive).
 * `projections(ctx)` gives the object the CLI and tests drive directly.
 */
export function projectionsModule(options: ProjectionsOptions = {}): ServiceModule & { projections(ctx: ServiceContext): Projections } {
  let projections: Projections | undefined;
  const get = (ctx: ServiceContext) => (projections ??= new Projections(ctx, options));
  return {
    name: 'projections',
    title: 'OneStop projections',
    tags: [
      { name: 'dashboards', description: 'Read models of the network agreement: overview, funnel, partners, referrals, need profiles, caseload, cases.' },
      { name: 'operations', description: 'Rebuilding read models from the event store; dead letters and their re-drive (admins).' },
      { name: 'audit', description: 'The audit trail for auditors: case history, as-of replay, hash-chain verification, signed digests.' },
    ],
    description:
      'Read models for the dashboards of the network agreement, rebuilt from the event store on command; the audit trail: case history, as-of replay, hash-chain verification and signed digests (DESIGN §7); dead letters and their re-drive for admins.',
    projections: get,
    async migrate(ctx) {
      await get(ctx).migrate();
    },
    routes: async (app, opts) => {
      const p = get(opts.ctx);
      await app.register(dashboardRoutes(p), opts);
      await app.register(auditRoutes(p), opts);
      await app.register(verifiableLogRoutes(p), opts);
      await app.register(dashboardPage(), opts);
      await app.register(deadLetterRoutes(), opts);
      await app.register(changesRoute(p.changes), opts);
    },
    async start(ctx) {
      return get(ctx).start();
    },
  };
}

export { ChangeFeed, changedPosition } from './changes/change-feed.js';
export { Projections, PROJECTED_TOPICS, PROJECTIONS_CONCURRENCY, PROJECTIONS_GROUP, type ProjectionsOptions, type RebuildStatus } from './projections.js';
export { ReadModels, type ProjectedEvent } from './read-models/read-models.js';
export type * from './read-models/read-models.js';
export { byStream, rebuildReadModels, type RebuildOptions, type RebuildProgress, type RebuildReport } from './read-models/rebuild.js';
export { CaseHistory, type CaseAsOf, type CaseHistoryView, type ReadPurpose } from './audit/case-history.js';
export {
  digestSigningInput,
  headsSha256,
  keyIdOf,
  signHeadsDigest,
  verifyDigest,
  type DigestHead,
  type DigestVerification,
  type StreamHeadsDigest,
} from './audit/digest.js';
export { Checkpoints, witnessPolicy, type WitnessConfig } from './audit/checkpoints.js';
export { AuditConfigSchema, AuditSigningKey, loadAuditConfig, parseSigningKey, type AuditConfig } from './audit/signing-key.js';
export type { BrokenStream, RecomputedHeads, StoreVerificationSummary, VerificationProgress, VerificationSummary } from './audit/verification.js';
export { recomputeHeads } from './audit/verification.js';
export {
  SignedDigests,
  compareWithDigest,
  type ComparedDigest,
  type DigestComparison,
  type ShrunkStream,
  type SignedDigestRecord,
} from './audit/signed-digests.js';
