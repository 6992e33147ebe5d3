// Realistic events for the benchmarks: the cases of a One Stop Shop (person,
// assessment, referrals, audit reads) as the services record them, valid for
// the event catalog, and a bulk loader that writes them into the store's table
// exactly as `append()` would (same columns, same per-stream hash chain), for
// fixtures too large to fill through `append()` within the time budget.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  LIFE_DOMAINS,
  canonicalEnvelope,
  createEvent,
  type Actor,
  type EventContext,
  type RawEnvelope,
  type RawRecordedEvent,
} from '@onestop/events';
import { linkHash } from '@onestop/eventstore';
import type pg from 'pg';

// Random base64 to cut ciphertexts from: as incompressible as the real ones, without a randomBytes call each.
const NOISE = randomBytes(96 * 1024).toString('base64');
let noiseAt = 0;
function noise(chars: number): string {
  if (noiseAt + chars > NOISE.length) noiseAt = (noiseAt * 7919) % 4096;
  const s = NOISE.slice(noiseAt, noiseAt + chars);
  noiseAt += chars + 13;
  return s;
}
const b64 = (bytes: number) => {
  const n = Math.ceil(bytes / 3) * 4;
  const pad = bytes % 3 === 1 ? '==' : bytes % 3 === 2 ? '=' : '';
  return noise(n - pad.length) + pad;
};

/** A ciphertext envelope of about the size the keyring produces for `bytes` of plain text. */
export function cipher(bytes: number): {
  alg: 'A256GCM';
  kid: string;
  iv: string;
  ct: string;
  tag: string;
} {
  return {
    alg: 'A256GCM',
    kid: `pk-${noise(8).replace(/[^A-Za-z0-9]/g, 'x')}`,
    iv: b64(12),
    ct: b64(bytes),
    tag: b64(16),
  };
}

const PARTNERS = [
  'centro-impiego',
  'servizi-sociali',
  'consorzio-coeso',
  'sportello-legale',
  'tutoraggio',
] as const;
const ACCESS_POINTS = ['pistoia-centro', 'pistoia-nord', 'quarrata', 'capannori'] as const;
const T0 = Date.parse('2026-01-05T08:00:00Z');
const at = (hours: number) => new Date(T0 + hours * 3_600_000).toISOString();
const operator: Actor = { id: 'operatore-1', role: 'operator' };
const socialWorker: Actor = { id: 'assistente-sociale-1', role: 'team', teamRole: 'social_worker' };
const ctx = (
  source: string,
  actor: Actor,
  hours: number,
  correlationId = randomUUID(),
): EventContext => ({
  source,
  actor,
  correlationId,
  time: at(hours),
});

export interface FixtureStream {
  streamId: string;
  events: RawEnvelope[];
}

/** The directory: every partner of the agreement with its services (2 events each). */
export function partnerStreams(): FixtureStream[] {
  return PARTNERS.map((p, i) => {
    const s = `partner-${p}`;
    const c = ctx('/onestop/referral', { id: 'amministratore-1', role: 'admin' }, 0);
    return {
      streamId: s,
      events: [
        createEvent(
          'PartnerRegistered',
          {
            partnerId: p,
            name: `Partner ${p}`,
            sector: i < 2 ? 'public' : 'third_sector',
            services: [
              { serviceId: 'svc', name: 'Servizio', domain: LIFE_DOMAINS[i]!, capacity: 10_000 },
            ],
          },
          s,
          p,
          c,
        ),
        createEvent(
          'PartnerJoinedAgreement',
          { agreementId: 'accordo-pistoia', responseDays: 5 },
          s,
          p,
          c,
        ),
      ] as RawEnvelope[],
    };
  });
}

/**
 * One person's path: registration and two consents (3 events), an assessment
 * of the seven domains (9), a referral taken up and completed (4), one
 * declined (2), and a read of the case by an auditor (1): 19 events in 5 streams.
 */
export function caseStreams(i: number): FixtureStream[] {
  const personId = randomUUID();
  const assessmentId = randomUUID();
  const h = (i % 500) * 2;
  const ps = `person-${personId}`;
  const person = [
    createEvent(
      'PersonRegistered',
      {
        personId,
        accessPoint: ACCESS_POINTS[i % 4]!,
        registeredBy: `operatore-${i % 7}`,
        pii: cipher(180),
        municipality: 'Pistoia',
        birthYear: 1950 + (i % 55),
      },
      ps,
      personId,
      ctx('/onestop/intake', operator, h),
    ),
    createEvent(
      'ConsentGiven',
      { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'operatore-1' },
      ps,
      personId,
      ctx('/onestop/intake', operator, h),
    ),
    createEvent(
      'ConsentGiven',
      { scope: 'referral_sharing', legalBasis: 'explicit_consent', recordedBy: 'operatore-1' },
      ps,
      personId,
      ctx('/onestop/intake', operator, h),
    ),
  ];
  const as = `assessment-${assessmentId}`;
  const profile = Object.fromEntries(LIFE_DOMAINS.map((d, k) => [d, (i + k) % 5])) as Record<
    (typeof LIFE_DOMAINS)[number],
    number
  >;
  profile.housing = 3;
  const assessment = [
    createEvent(
      'AssessmentStarted',
      {
        assessmentId,
        personId,
        team: [
          { memberId: `assistente-sociale-${i % 9}`, role: 'social_worker' },
          { memberId: `operatore-cpi-${i % 5}`, role: 'employment_operator' },
        ],
      },
      as,
      personId,
      ctx('/onestop/assessment', socialWorker, h + 24),
    ),
    ...LIFE_DOMAINS.map((domain) =>
      createEvent(
        'DomainEvaluated',
        {
          domain,
          needLevel: profile[domain],
          notes: cipher(120),
          evaluatedBy: 'assistente-sociale-1',
        },
        as,
        personId,
        ctx('/onestop/assessment', socialWorker, h + 25),
      ),
    ),
    createEvent(
      'AssessmentCompleted',
      {
        needProfile: profile,
        priorityDomains: ['housing'],
        goals: [
          {
            goalId: randomUUID(),
            domain: 'housing',
            description: cipher(90),
            targetDate: '2026-06-30',
          },
        ],
      },
      as,
      personId,
      ctx('/onestop/assessment', socialWorker, h + 26),
    ),
  ];
  const referral = (k: number, outcome: 'completed' | 'declined'): FixtureStream => {
    const referralId = randomUUID();
    const rs = `referral-${referralId}`;
    const partnerId = PARTNERS[(i + k) % PARTNERS.length]!;
    const partner: Actor = { id: `${partnerId}-desk`, role: 'partner', partnerId };
    const events = [
      createEvent(
        'ReferredToPartner',
        {
          referralId,
          personId,
          assessmentId,
          partnerId,
          serviceId: 'svc',
          domain: 'housing',
          reason: cipher(100),
          priority: 'routine',
          respondBy: at(h + 150),
          referredBy: 'assistente-sociale-1',
          consentEventId: person[2]!.id,
        },
        rs,
        personId,
        ctx('/onestop/referral', socialWorker, h + 30),
      ),
      ...(outcome === 'completed'
        ? [
            createEvent(
              'ReferralAccepted',
              { expectedStart: '2026-02-01' },
              rs,
              personId,
              ctx('/onestop/referral', partner, h + 50),
            ),
            createEvent(
              'ServiceStarted',
              {},
              rs,
              personId,
              ctx('/onestop/referral', partner, h + 70),
            ),
            createEvent(
              'ServiceCompleted',
              { outcome: 'achieved' },
              rs,
              personId,
              ctx('/onestop/referral', partner, h + 400),
            ),
          ]
        : [
            createEvent(
              'ReferralDeclined',
              { reason: 'no_capacity' },
              rs,
              personId,
              ctx('/onestop/referral', partner, h + 60),
            ),
          ]),
    ];
    return { streamId: rs, events: events as RawEnvelope[] };
  };
  const auditStream = `audit-${personId}`;
  return [
    { streamId: ps, events: person as RawEnvelope[] },
    { streamId: as, events: assessment as RawEnvelope[] },
    referral(0, 'completed'),
    referral(1, 'declined'),
    {
      streamId: auditStream,
      events: [
        createEvent(
          'CaseHistoryRead',
          { personId, purpose: 'audit', readBy: 'revisore-1' },
          auditStream,
          personId,
          ctx('/onestop/projections', { id: 'revisore-1', role: 'auditor' }, h + 500),
        ),
      ] as RawEnvelope[],
    },
  ];
}

/** Stamps a stream's events with positions and the per-stream hash chain, as the store's append does. */
export function record(
  streamEvents: readonly RawEnvelope[],
  firstGlobal: number,
  head: { revision: number; hash: string | null } = { revision: -1, hash: null },
): RawRecordedEvent[] {
  let prev = head.hash;
  return streamEvents.map((e, i) => {
    const streamPosition = head.revision + 1 + i;
    const hash = linkHash(prev, streamPosition, canonicalEnvelope(e));
    const out = { ...e, streamPosition, globalPosition: firstGlobal + i, hash, prevHash: prev };
    prev = hash;
    return out;
  });
}

/**
 * The global log of `total` events: the directory, then cases one after the
 * other (the last one cut short to land on `total` exactly), in chunks.
 */
export function* recordedLog(total: number, chunkSize = 5000): Generator<RawRecordedEvent[]> {
  let position = 1;
  let chunk: RawRecordedEvent[] = [];
  const push = function* (stream: FixtureStream): Generator<RawRecordedEvent[]> {
    const room = total - position + 1;
    if (room <= 0) return;
    const recorded = record(stream.events.slice(0, room), position);
    position += recorded.length;
    for (const e of recorded) chunk.push(e);
    if (chunk.length >= chunkSize) {
      yield chunk;
      chunk = [];
    }
  };
  for (const s of partnerStreams()) yield* push(s);
  for (let i = 0; position <= total; i++) for (const s of caseStreams(i)) yield* push(s);
  if (chunk.length) yield chunk;
}

const INSERT_ROWS = `INSERT INTO eventstore.events (global_position, transaction_id, stream_id, stream_position, event_id,
    event_type, schema_version, data, metadata, prev_hash, hash)
  SELECT g, pg_current_xact_id(), s, sp, id, t, v, d, m, decode(ph, 'hex'), decode(h, 'hex')
  FROM jsonb_to_recordset($1::jsonb) AS x(g bigint, s text, sp bigint, id uuid, t text, v int, d jsonb, m jsonb, ph text, h text)`;

/** The store's row of an event: `metadata` is the envelope without id, type, version, subject and data. */
export function metadataOf(e: RawEnvelope): Record<string, unknown> {
  const {
    id: _i,
    type: _t,
    schemaVersion: _v,
    data: _d,
    subject: _s,
    ...rest
  } = e as RawEnvelope & Partial<RawRecordedEvent>;
  const {
    streamPosition: _sp,
    globalPosition: _gp,
    hash: _h,
    prevHash: _p,
    ...metadata
  } = rest as Record<string, unknown>;
  return metadata;
}

/** Writes recorded events into eventstore.events as append() stores them (one transaction per call). */
export async function insertRecorded(
  pool: pg.Pool,
  events: readonly RawRecordedEvent[],
): Promise<void> {
  const rows = events.map((e) => ({
    g: e.globalPosition,
    s: e.subject,
    sp: e.streamPosition,
    id: e.id,
    t: e.type,
    v: e.schemaVersion,
    d: e.data,
    m: metadataOf(e),
    ph: e.prevHash,
    h: e.hash,
  }));
  await pool.query(INSERT_ROWS, [JSON.stringify(rows)]);
}

/**
 * Fills an empty, migrated store with the realistic log of `total` events:
 * two chunks in flight, then the position sequence is moved past them.
 * Returns the head position.
 */
export async function bulkLoad(
  pool: pg.Pool,
  total: number,
  onChunk?: (done: number) => void,
): Promise<number> {
  let inFlight: Promise<void> = Promise.resolve();
  let done = 0;
  let head = 0;
  for (const chunk of recordedLog(total)) {
    const previous = inFlight;
    head = chunk[chunk.length - 1]!.globalPosition;
    const write = insertRecorded(pool, chunk).then(() => {
      done += chunk.length;
      onChunk?.(done);
    });
    await previous;
    inFlight = write;
  }
  await inFlight;
  await pool.query(`SELECT setval('eventstore.global_position_seq', $1)`, [Math.max(head, 1)]);
  await pool.query('ANALYZE eventstore.events');
  return head;
}

/** The envelope appended by the append benchmark: a contact-details update of a person (about 0.6 kB stored). */
export function appendEnvelope(streamId: string, personId: string): RawEnvelope {
  return createEvent(
    'ContactDetailsUpdated',
    { pii: cipher(220), updatedBy: 'operatore-1' },
    streamId,
    personId,
    {
      source: '/onestop/intake',
      actor: operator,
      correlationId: randomUUID(),
      causationId: randomUUID(),
      time: new Date().toISOString(),
    },
  ) as RawEnvelope;
}

/**
 * One long-running case of `total` events (default 10,000) for the replay
 * benchmark: a person stream with years of contact updates and consent
 * changes, fifty assessments, two hundred referrals, and the audit stream of
 * every read of the case. Returns its streams in recording order.
 */
export function bigCase(total = 10_000): { personId: string; streams: FixtureStream[] } {
  const personId = randomUUID();
  const streams: FixtureStream[] = [];
  const share = (f: number) => Math.max(1, Math.floor(total * f));
  // person: 30 %
  const ps = `person-${personId}`;
  const personEvents: RawEnvelope[] = [
    createEvent(
      'PersonRegistered',
      {
        personId,
        accessPoint: 'pistoia-centro',
        registeredBy: 'operatore-1',
        pii: cipher(180),
        municipality: 'Pistoia',
        birthYear: 1970,
      },
      ps,
      personId,
      ctx('/onestop/intake', operator, 0),
    ) as RawEnvelope,
  ];
  for (let k = 1; k < share(0.3); k++) {
    const c = ctx('/onestop/intake', operator, k);
    const scope = k % 2 ? 'assessment' : 'referral_sharing';
    personEvents.push(
      (k % 3 === 0
        ? createEvent(
            'ContactDetailsUpdated',
            { pii: cipher(180), updatedBy: 'operatore-1' },
            ps,
            personId,
            c,
          )
        : k % 3 === 1
          ? createEvent(
              'ConsentGiven',
              { scope, legalBasis: 'explicit_consent', recordedBy: 'operatore-1' },
              ps,
              personId,
              c,
            )
          : createEvent(
              'ConsentWithdrawn',
              { scope, legalBasis: 'explicit_consent', recordedBy: 'operatore-1' },
              ps,
              personId,
              c,
            )) as RawEnvelope,
    );
  }
  streams.push({ streamId: ps, events: personEvents });
  // assessments: 50 × 9 events
  let used = personEvents.length;
  const assessments: string[] = [];
  for (let a = 0; a < 50 && used + 9 <= total; a++) {
    const one = caseStreams(a)[1]!;
    const assessmentId = randomUUID();
    const as = `assessment-${assessmentId}`;
    assessments.push(assessmentId);
    streams.push({
      streamId: as,
      events: one.events.map((e, k) =>
        k === 0
          ? ({
              ...e,
              id: randomUUID(),
              subject: as,
              partitionKey: personId,
              data: { ...(e.data as object), assessmentId, personId },
            } as RawEnvelope)
          : ({ ...e, id: randomUUID(), subject: as, partitionKey: personId } as RawEnvelope),
      ),
    });
    used += 9;
  }
  // referrals: 200 × (4 or 2) events
  for (let r = 0; r < 200 && used + 4 <= total; r++) {
    const one = caseStreams(r)[2 + (r % 2)]!;
    const referralId = randomUUID();
    const rs = `referral-${referralId}`;
    streams.push({
      streamId: rs,
      events: one.events.map((e, k) =>
        k === 0
          ? ({
              ...e,
              id: randomUUID(),
              subject: rs,
              partitionKey: personId,
              data: {
                ...(e.data as object),
                referralId,
                personId,
                assessmentId: assessments[r % Math.max(1, assessments.length)] ?? randomUUID(),
              },
            } as RawEnvelope)
          : ({ ...e, id: randomUUID(), subject: rs, partitionKey: personId } as RawEnvelope),
      ),
    });
    used += one.events.length;
  }
  // the rest: reads of the case, recorded in its audit stream
  const au = `audit-${personId}`;
  const reads: RawEnvelope[] = [];
  for (let k = 0; used < total; k++, used++) {
    reads.push(
      createEvent(
        'CaseHistoryRead',
        { personId, purpose: k % 4 ? 'audit' : 'as_of_replay', readBy: `revisore-${k % 3}` },
        au,
        personId,
        ctx('/onestop/projections', { id: 'revisore-1', role: 'auditor' }, 10 + k),
      ) as RawEnvelope,
    );
  }
  if (reads.length) streams.push({ streamId: au, events: reads });
  return { personId, streams };
}
