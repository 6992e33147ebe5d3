import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IsoDateTime, NotFoundError, RuleViolation, Uuid } from '@onestop/events';
import { formatVkey } from '@onestop/eventstore/merkle';
import { ReceiptSchema, eventContextOf, principalOf, type Role, type ServiceContext } from '@onestop/kit';
import { deadlinesAsOf } from '@onestop/assessment';
import type { Projections } from '../projections.js';

// The auditors' API (DESIGN §7): a case's full history across its streams, the
// case as of any instant, verification of the hash chains, and signed digests
// of the stream heads. Read-only; every read of a case history is itself
// recorded as a CaseHistoryRead event in the case's audit stream (DESIGN §6).

const SOURCE = '/onestop/projections';
const AUDIT: readonly Role[] = ['auditor', 'admin'];

const PersonParams = z.object({ personId: Uuid });
const RecordedEnvelope = z.object({
  id: z.string(),
  type: z.string(),
  schemaVersion: z.number(),
  source: z.string(),
  subject: z.string().describe('the stream id'),
  time: z.string(),
  partitionKey: z.string(),
  correlationId: z.string(),
  causationId: z.string().nullable(),
  actor: z.object({ id: z.string(), role: z.string(), teamRole: z.string().optional(), partnerId: z.string().optional() }),
  data: z.unknown().describe('the payload as stored: personal data stays ciphertext'),
  streamPosition: z.number(),
  globalPosition: z.number(),
  hash: z.string().describe('hex SHA-256 of prevHash ‖ streamPosition ‖ canonical envelope'),
  prevHash: z.string().nullable(),
});
const RecordedRead = z.object({
  eventId: z.string().describe('the CaseHistoryRead event that records this read'),
  position: z.number(),
});
const CaseHistory = z.object({
  personId: z.string(),
  streams: z.array(z.object({ streamId: z.string(), events: z.number() })),
  events: z.array(RecordedEnvelope),
  read: RecordedRead,
});
// The deciders' states, documented; loose, so a member a decider adds later is shown, not dropped.
const Consent = z.object({ active: z.boolean(), eventId: z.string().nullable() });
const PersonState = z.looseObject({
  status: z.enum(['unknown', 'registered', 'erased']),
  personId: z.string().nullable(),
  consents: z.object({ assessment: Consent, referral_sharing: Consent }),
});
const AssessmentState = z.looseObject({
  status: z.string(),
  assessmentId: z.string().nullable(),
  personId: z.string().nullable(),
  team: z.array(z.object({ memberId: z.string(), role: z.string() })),
  levels: z.record(z.string(), z.number()),
});
const ReferralState = z.looseObject({
  status: z.string().describe('FHIR Task.status (none before the referral was made)'),
  referralId: z.string().nullable(),
  personId: z.string().nullable(),
  partnerId: z.string().nullable(),
  serviceId: z.string().nullable(),
  respondBy: z.string().nullable(),
  overdue: z.boolean(),
});
const CareState = z.looseObject({
  status: z.enum(['none', 'open', 'closed']),
  programme: z.string().nullable(),
  activationDate: z.string().nullable().describe('the activation pact the statutory clocks run from'),
  caseManager: z.object({ memberId: z.string(), role: z.string() }).nullable(),
  closeReason: z.string().nullable(),
});
const PlanState = z.looseObject({
  status: z.enum(['none', 'agreed']),
  version: z.number(),
  reviewDate: z.string().nullable(),
  progress: z.record(z.string(), z.string()),
});
const MeetingsState = z.looseObject({
  meetings: z.record(z.string(), z.looseObject({ kind: z.string(), at: z.string(), status: z.string(), heldAt: z.string().nullable() })),
});
const CaseAsOf = z.object({
  personId: z.string(),
  at: z.string(),
  eventsReplayed: z.number(),
  position: z.number().describe('global position of the last event replayed (0 when none)'),
  person: PersonState.describe("the Person decider's state"),
  assessments: z.array(z.object({ assessmentId: z.string(), state: AssessmentState })),
  referrals: z.array(z.object({ referralId: z.string(), state: ReferralState })),
  care: CareState.describe('the case taken in charge (docs/casework.md)'),
  plan: PlanState.describe('the personal plan: version, goals with owners (texts as ciphertext), progress'),
  meetings: MeetingsState,
  historyReads: z.number(),
  read: RecordedRead,
});
const DeadlinesAsOf = z.object({
  personId: z.string(),
  at: z.string(),
  day: z.string().describe('the calendar day of `at` in Europe/Rome, the day deadlines are counted in'),
  programme: z.string().optional(),
  caseManager: z.string().optional().describe('the case manager then (a staff id)'),
  policies: z.array(z.object({ programme: z.string(), version: z.number(), validFrom: z.string() })).describe('the clock policy versions published by then'),
  deadlines: z.array(
    z.object({
      deadlineId: z.string(),
      kind: z.enum(['first_meeting', 'review', 'plan_review']),
      programme: z.string(),
      policyVersion: z.number().describe('0: the plan\'s own review date'),
      anchorDate: z.string(),
      dueDate: z.string(),
      recommendedDate: z.string().optional(),
      status: z.enum(['pending', 'approaching', 'missed', 'met_on_time', 'met_late', 'stopped', 'superseded']),
      metAt: z.string().optional(),
      told: z
        .object({ approaching: z.string().optional(), missed: z.string().optional(), met: z.string().optional() })
        .describe("when the watcher had recorded DeadlineApproaching / DeadlineMissed / DeadlineMet, if it had by then"),
    }),
  ),
  read: RecordedRead,
});
const Broken = z.object({
  streamId: z.string(),
  events: z.number(),
  brokenAt: z.number().describe('the first stream position whose link does not hold'),
  reason: z.enum(['hash_mismatch', 'prev_hash_mismatch', 'position_gap']),
});
const StreamResult = z.object({
  streamId: z.string(),
  ok: z.boolean(),
  events: z.number(),
  headHash: z.string().nullable().optional(),
  brokenAt: z.number().optional(),
  reason: z.string().optional(),
});
const CaseVerification = z.object({
  personId: z.string(),
  ok: z.boolean(),
  streams: z.number(),
  events: z.number(),
  broken: z.array(Broken),
  results: z.array(StreamResult),
});
const DigestComparison = z.object({
  comparedWith: z.object({
    position: z.number(),
    streams: z.number(),
    events: z.number(),
    signedAt: z.string(),
    keyId: z.string(),
    headsSha256: z.string(),
  }).describe('the last signed digest (the one at the highest position)'),
  warning: z.string().nullable(),
  missingStreams: z.array(z.string()).describe('streams of the digest the log no longer has (the first 100)'),
  missingCount: z.number(),
  shrunkStreams: z.array(z.object({ streamId: z.string(), revision: z.number(), digestRevision: z.number() })).describe('streams behind their head in the digest (the first 100)'),
  shrunkCount: z.number(),
  rewrittenStreams: z.array(z.string()).describe('streams at the digest revision with another head hash (the first 100)'),
  rewrittenCount: z.number(),
});
const StoreVerification = z.object({
  ok: z.boolean().describe('no broken stream on this page, and the log holds everything the last signed digest named'),
  position: z.number().describe('head of the log when the page was verified'),
  totalStreams: z.number(),
  streams: z.number().describe('streams checked on this page'),
  events: z.number(),
  broken: z.array(Broken),
  warning: z
    .string()
    .nullable()
    .describe('set when the log holds less than the last signed digest: empty, fewer events or streams, a stream missing or behind (on every page)'),
  digest: DigestComparison.nullable().describe('the comparison of the whole log with the last signed digest; null when no digest was ever signed'),
  nextAfter: z.string().nullable().describe('pass as `after` for the next page; null on the last'),
});
const Digest = z.object({
  position: z.number(),
  streams: z.number(),
  headsSha256: z.string(),
  signedAt: z.string(),
  keyId: z.string(),
  signature: z.string().describe('base64 Ed25519 signature of the canonical JSON of the other members'),
});
const PublicKey = z.object({
  keyId: z.string(),
  algorithm: z.literal('Ed25519'),
  pem: z.string(),
  jwk: z.record(z.string(), z.unknown()),
});

export const auditRoutes = (projections: Projections): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const record = (req: Parameters<typeof eventContextOf>[0], personId: string, purpose: 'audit' | 'as_of_replay') =>
      projections.cases.recordRead(personId, purpose, principalOf(req).sub, eventContextOf(req, SOURCE, ctx.clock.now()));

    r.get(
      '/audit/cases/:personId/history',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: "A case's full history across all its streams, in global order (the read is recorded)",
          params: PersonParams,
          response: { 200: CaseHistory },
        },
      },
      async (req) => {
        const { personId } = req.params;
        await projections.cases.mustExist(personId);
        // recorded before anything is shown: no read goes unrecorded
        const read = await record(req, personId, 'audit');
        return { ...(await projections.cases.history(personId)), read };
      },
    );

    r.get(
      '/audit/cases/:personId/as-of',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: 'The state of a case as of an instant: the deciders folded over the events recorded until then (the read is recorded)',
          params: PersonParams,
          querystring: z.object({ at: IsoDateTime.describe('ISO 8601 instant with offset') }),
          response: { 200: CaseAsOf },
        },
      },
      async (req) => {
        const { personId } = req.params;
        await projections.cases.mustExist(personId);
        const read = await record(req, personId, 'as_of_replay');
        const asOf = await projections.cases.asOf(personId, new Date(req.query.at));
        // decider states are interfaces; the loose schemas above describe (and check) them
        return { ...asOf, read } as unknown as z.infer<typeof CaseAsOf>;
      },
    );

    r.get(
      '/audit/cases/:personId/deadlines',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: "A case's statutory deadlines as known at an instant: derived from the events and clock policies recorded until then, with where each stood that day and what the watcher had told (the read is recorded)",
          params: PersonParams,
          querystring: z.object({ at: IsoDateTime.describe('ISO 8601 instant with offset') }),
          response: { 200: DeadlinesAsOf },
        },
      },
      async (req) => {
        const { personId } = req.params;
        await projections.cases.mustExist(personId);
        const read = await record(req, personId, 'as_of_replay');
        const at = new Date(req.query.at);
        return { personId, ...(await deadlinesAsOf(ctx.store, personId, at, ctx.config.ONESTOP_DEADLINE_APPROACHING_DAYS)), read };
      },
    );

    r.get(
      '/audit/cases/:personId/verification',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: "Recomputes the hash chains of a case's streams",
          params: PersonParams,
          response: { 200: CaseVerification },
        },
      },
      async (req) => ({ personId: req.params.personId, ...(await projections.verifyCase(req.params.personId)) }),
    );

    r.get(
      '/audit/verification',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: 'Recomputes the hash chains of every stream of the store, a page of streams at a time, and compares the log with the last signed digest',
          querystring: z.object({
            after: z.string().min(1).max(200).optional().describe('stream id to continue after (nextAfter of the previous page)'),
            limit: z.coerce.number().int().min(1).max(10_000).default(1000),
          }),
          response: { 200: StoreVerification },
        },
      },
      async (req) => projections.verifyPage(req.query.after, req.query.limit),
    );

    r.get(
      '/audit/digest',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: 'A signed (Ed25519) digest of every stream head at a global position',
          description:
            'Verify offline with the public key of GET /audit/public-key (verifyDigest in @onestop/projections). ' +
            'Every digest is recorded: GET /audit/verification warns when the log later holds less than the last one. ' +
            'An empty log is refused (422 empty_log) unless allowEmpty=true.',
          querystring: z.object({
            position: z.coerce.number().int().min(0).optional().describe('default: the current head of the log'),
            allowEmpty: z.enum(['true', 'false']).default('false').describe('sign a log with no events too'),
          }),
          response: { 200: Digest },
        },
      },
      async (req) => projections.digest(req.query.position, { allowEmpty: req.query.allowEmpty === 'true' }),
    );

    r.get(
      '/audit/public-key',
      {
        config: { roles: AUDIT },
        schema: { tags: ['audit'], summary: 'The public key that verifies digests (PEM and JWK)', response: { 200: PublicKey } },
      },
      async () => {
        const key = projections.signingKey();
        return { keyId: key.keyId, algorithm: 'Ed25519' as const, pem: key.publicKeyPem(), jwk: key.publicKeyJwk() as Record<string, unknown> };
      },
    );
  };

// ── The verifiable log (RFC 9162 tree, C2SP checkpoints, witnesses) ──────────
const TEXT = 'text/plain; charset=utf-8';
const Size = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const StoredCheckpointSchema = z.object({
  treeSize: z.number(),
  rootHash: z.string().describe('base64 SHA-256'),
  note: z.string().describe('the C2SP signed note: checkpoint body, the log signature, then each cosignature'),
  signedAt: z.string(),
  finalAt: z.string().nullable().describe('when the witness policy was met; null: not final yet'),
  cosignedBy: z.array(z.string()),
});
const InclusionProofSchema = ReceiptSchema.shape.inclusionProof.unwrap();
export const verifiableLogRoutes = (projections: Projections): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const log = projections.checkpoints;

    r.get(
      '/audit/log/checkpoint',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: 'The latest signed checkpoint (C2SP signed note, text/plain), with the cosignatures it has',
          description: 'final=true: the latest checkpoint that met the witness policy. The header OneStop-Checkpoint-Final says whether this one did.',
          querystring: z.object({ final: z.enum(['true', 'false']).default('false') }),
        },
      },
      async (req, reply) => {
        const c = await log.checkpoint({ final: req.query.final === 'true' });
        return reply.type(TEXT).header('onestop-checkpoint-final', String(c.finalAt !== null)).send(c.note);
      },
    );

    r.get(
      '/audit/log/checkpoints/:size',
      {
        config: { roles: AUDIT },
        schema: { tags: ['audit'], summary: 'An earlier checkpoint by its tree size (C2SP signed note, text/plain)', params: z.object({ size: Size }) },
      },
      async (req, reply) => {
        const c = await log.checkpoint({ size: req.params.size });
        return reply.type(TEXT).header('onestop-checkpoint-final', String(c.finalAt !== null)).send(c.note);
      },
    );

    r.post(
      '/audit/log/checkpoints',
      {
        config: { roles: ['admin'] },
        schema: {
          tags: ['audit'],
          summary: 'Signs a checkpoint of the tree now (the service also does every ONESTOP_CHECKPOINT_INTERVAL_MS); the latest when the tree has not grown',
          response: { 200: StoredCheckpointSchema },
        },
      },
      async () => {
        const c = await log.sign();
        if (!c) throw new RuleViolation('empty_log', 'the log has no event yet: there is nothing to sign');
        return c;
      },
    );

    r.post(
      '/audit/log/checkpoints/:size/cosignatures',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: "A witness's cosignature of a checkpoint (C2SP tlog-cosignature line); the checkpoint becomes final once the witness policy is met",
          description: 'Refused (422 cosignature_invalid) unless it verifies with the key of a configured witness (ONESTOP_WITNESSES) over that checkpoint.',
          params: z.object({ size: Size }),
          body: z.object({ cosignature: z.string().min(10).max(1000).describe('"— <witness name> <base64(key ID ‖ timestamp ‖ Ed25519 signature)>"') }).strict(),
          response: { 200: StoredCheckpointSchema },
        },
      },
      async (req) => log.cosign(req.params.size, req.body.cosignature),
    );

    r.get(
      '/audit/log/proofs/inclusion',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: 'The inclusion proof of an event (by id or global position) in the tree of a checkpoint (default: the latest), with that checkpoint',
          querystring: z
            .object({ eventId: Uuid.optional(), position: Size.optional(), size: Size.optional().describe('tree size of the checkpoint') })
            .refine((q) => (q.eventId === undefined) !== (q.position === undefined), { message: 'give eventId or position' }),
          response: { 200: z.object({ checkpoint: z.string(), final: z.boolean(), inclusionProof: InclusionProofSchema }) },
        },
      },
      async (req) => {
        const position = req.query.position ?? (await locate(req.query.eventId!)).globalPosition;
        const { checkpoint, inclusionProof } = await log.inclusion(position, req.query.size);
        return { checkpoint: checkpoint.note, final: checkpoint.finalAt !== null, inclusionProof };
      },
    );

    r.get(
      '/audit/log/proofs/consistency',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: 'The consistency proof between two checkpoints (by tree size), with both',
          querystring: z.object({ from: Size, to: Size }),
          response: { 200: z.object({ from: z.string(), to: z.string(), proof: z.array(z.string()).describe('base64 hashes, RFC 9162 §2.1.4') }) },
        },
      },
      async (req) => {
        const c = await log.consistency(req.query.from, req.query.to);
        return { from: c.from.note, to: c.to.note, proof: c.proof };
      },
    );

    r.get(
      '/audit/log/receipts/:eventId',
      {
        config: { roles: [...AUDIT, 'partner'] },
        schema: {
          tags: ['audit'],
          summary: 'The receipt of an event: the latest checkpoint that holds it and its inclusion proof (pending until one does)',
          description: 'A partner gets the receipts of the events of its own referrals only (404 otherwise).',
          params: z.object({ eventId: Uuid }),
          response: { 200: ReceiptSchema },
        },
      },
      async (req) => {
        const { eventId } = req.params;
        const at = await locate(eventId);
        const who = principalOf(req);
        if (who.role === 'partner') {
          // only the events of a referral addressed to this partner: another partner must not learn the event exists
          const first = at.streamId.startsWith('referral-') ? (await ctx.store.readStream(at.streamId, { maxCount: 1 }))[0] : undefined;
          if ((first?.data as { partnerId?: string } | undefined)?.partnerId !== who.partnerId) throw new NotFoundError('event', eventId);
        }
        return log.receipt(eventId, at.globalPosition);
      },
    );

    r.get(
      '/audit/log/public-key',
      {
        config: { roles: AUDIT },
        schema: {
          tags: ['audit'],
          summary: "The log's verifier key (C2SP vkey) and the witness policy: what `onestop verify-proof` and `onestop witness` are given",
          response: { 200: z.object({ origin: z.string(), vkey: z.string(), witnesses: z.array(z.string()), quorum: z.number() }) },
        },
      },
      async () => ({ origin: log.origin, vkey: log.vkey(), witnesses: log.witnesses.map(formatVkey), quorum: log.quorum }),
    );

    async function locate(eventId: string) {
      const at = await log.log.locate(eventId);
      if (!at) throw new NotFoundError('event', eventId);
      return at;
    }
  };
