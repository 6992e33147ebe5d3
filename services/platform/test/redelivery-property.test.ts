import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liftRecorded, topicForStream, type RawEnvelope, type RecordedEvent } from '@onestop/events';
import type { ManualClock, ServiceContext } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, type TestDatabase } from '@onestop/testkit';
import { allModules } from '../src/modules.js';
import { openPlatform, OTHER, OWN, TEAM, type Platform } from './platform.js';

// DESIGN §9: "A consumer must give the same effects whatever the delivery:
// duplicates, redelivery from the start, and any interleaving across streams."
//
// A real scenario is driven once through the HTTP API of every service, with
// the bus consumers running; its whole log is the input. Every bus consumer of
// every module (captured from the module's own `start`, so with its own topics
// and its own handler: a facts view and the watch behind it are one handler)
// is then fed, against a state of its own, one in-order delivery (the
// reference) and random deliveries that keep the order of each partition key
// (what Kafka keeps), interleave the keys freely, deliver earlier events and
// whole earlier prefixes again, in random batch sizes. Every run must end with
// the reference's effects: every table the consumer writes, and for the
// consent watches the events they append to the store (type, stream, data).
//
// Where the watches read the store (the case stream, the referral and
// assessment streams), the store holds the scenario's log, in two versions:
// - "live": the whole log, the watch's own cancellations included, as the
//   store is when a consumer group is reset to the earliest offset: any
//   delivery must append nothing;
// - "replayed": the log re-appended in its order without the watch's own
//   cancellations (actor referral-consent-watch / assessment-consent-watch):
//   the in-order delivery must append exactly what the live watch appended,
//   and so must every other delivery. (The scenario never starts an assessment
//   of a person whose open assessment the watch cancelled: without the
//   cancellation such a store would hold two open assessments of one person,
//   a state no store can reach.)

const SEED = Number(process.env.ONESTOP_PROPERTY_SEED ?? 20260311);
const RUNS = Number(process.env.ONESTOP_PROPERTY_RUNS ?? 25);
/** the embedded bus's batch: the reference delivery */
const REFERENCE_BATCH = 500;

/** The actors the consent watches record their cancellations under (referrals.ts AUTOMATIC_ACTORS, assessments.ts CONSENT_WATCH_ACTOR). */
const WATCH_ACTOR: Record<string, string> = { 'referral-facts': 'referral-consent-watch', 'assessment-facts': 'assessment-consent-watch' };

const facts = (schema: string) => ['person_facts', 'assessment_facts', 'consent_events'].map((t) => `${schema}.${t}`);
/** The tables each consumer group writes: all it may change, all it is compared on. */
const TABLES_OF: Record<string, string[]> = {
  'referral-view': ['referral.referrals', 'referral.partners'],
  'referral-facts': facts('referral_facts'),
  'assessment-facts': [...facts('assessment_view'), 'assessment.by_person'],
  'intake-partner-referrals': ['intake.partner_referrals'],
  'intake-duplicates': ['intake.duplicate_index'],
  'intake-person-search': ['intake.search_terms'],
  'referral-goals': ['referral.goals', 'referral.erased_persons'],
  projections: ['applied_streams', 'case_streams', 'persons', 'assessments', 'referrals', 'partners', 'cases', 'deadlines'].map((t) => `projections.${t}`),
  'assessment-documents': ['documents.documents'],
};

/**
 * What a consumer that only removes finds in place before each delivery (it
 * builds nothing from events, so an empty table would prove nothing): one
 * stored document per person of the scenario, with ids derived from the
 * person's, so that every run compares the same rows. The erasures must remove
 * theirs, and only theirs.
 */
const SEED_OF: Record<string, (ctx: ServiceContext) => Promise<void>> = {
  'assessment-documents': async (ctx) => {
    await ctx.db.query(
      `INSERT INTO documents.documents (document_id, person_id, content_type, size, iv, tag, ciphertext, added_at)
       SELECT md5(e.partition_key || '/document')::uuid, e.partition_key::uuid, 'application/pdf', 4, '\\x00'::bytea, '\\x00'::bytea, '\\x00'::bytea, '2026-01-01T00:00:00Z'
         FROM (SELECT DISTINCT metadata->>'partitionKey' AS partition_key FROM eventstore.events WHERE event_type = 'PersonRegistered') e`,
    );
  },
};

type Consume = Parameters<ServiceContext['bus']['consume']>[0];

/** A service context whose bus hands each consumer's options to the test instead of delivering anything. */
function capturingContext(ctx: ServiceContext): { ctx: ServiceContext; consumers: Map<string, Consume> } {
  const consumers = new Map<string, Consume>();
  const bus = {
    kind: 'embedded' as const,
    async consume(o: Consume) {
      consumers.set(o.group, o);
      return { group: o.group, stop: async () => undefined };
    },
  };
  return { ctx: { ...ctx, bus: bus as unknown as ServiceContext['bus'] }, consumers };
}

/** A state of the services' tables on `ctx`, with every module's consumers captured (not running). */
interface Env {
  label: string;
  ctx: ServiceContext;
  consumers: Map<string, Consume>;
  /** the last global position of the store before any run: what a run appends comes after it */
  base: number;
  stop(): Promise<void>;
}

async function openEnv(label: string, ctx: ServiceContext): Promise<Env> {
  const captured = capturingContext(ctx);
  const modules = allModules();
  const stops: Array<() => Promise<void>> = [];
  for (const m of modules) await m.migrate?.(captured.ctx);
  for (const m of modules) if (m.start) stops.push(await m.start(captured.ctx));
  expect([...captured.consumers.keys()].sort(), 'every consumer group has its tables listed here').toEqual(Object.keys(TABLES_OF).sort());
  return { label, ...captured, base: await head(ctx), stop: async () => void (await Promise.all(stops.map((s) => s()))) };
}

const head = async (ctx: ServiceContext) => Number((await ctx.db.query<{ p: string | null }>('SELECT max(global_position) AS p FROM eventstore.events'))[0]!.p ?? 0);

async function dumpTables(ctx: ServiceContext, tables: readonly string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) out[t] = (await ctx.db.query<{ row: string }>(`SELECT to_jsonb(x)::text AS row FROM ${t} x ORDER BY 1`)).map((r) => r.row);
  return out;
}

/** The events appended after the env's base, as (type, stream, data), sorted: ids, times and positions are not effects. */
async function appendedSince(ctx: ServiceContext, base: number): Promise<string[]> {
  const rows = await ctx.db.query<{ e: string }>(
    `SELECT event_type || ' ' || stream_id || ' ' || data::text AS e FROM eventstore.events WHERE global_position > $1 ORDER BY 1`,
    [base],
  );
  return rows.map((r) => r.e);
}

/** One consumer group on one env: reset its state, deliver, read its effects. */
function consumerOn(env: Env, group: string) {
  const c = env.consumers.get(group)!;
  const tables = TABLES_OF[group]!;
  const watches = group in WATCH_ACTOR;
  return {
    topics: c.topics,
    async reset() {
      await env.ctx.db.query(`TRUNCATE ${tables.join(', ')}`);
      await SEED_OF[group]?.(env.ctx);
      if (watches) await env.ctx.db.query('DELETE FROM eventstore.events WHERE global_position > $1', [env.base]);
    },
    async deliver(batches: readonly RecordedEvent[][]) {
      for (const b of batches) await c.handle([...b]);
      // what a watch appends on its own topics comes back to it, as on the bus (its facts view hears its cancellations)
      for (let fed = env.base; watches; ) {
        const back = await eventsAfter(env.ctx, fed);
        if (back.length === 0) break;
        fed = back.at(-1)!.globalPosition;
        await c.handle(onTopics(back, c.topics));
      }
    },
    async effects() {
      return { tables: await dumpTables(env.ctx, tables), ...(watches ? { appended: await appendedSince(env.ctx, env.base) } : {}) };
    },
  };
}

// ── Deliveries ───────────────────────────────────────────────────────────────

interface Plan {
  /** which key goes next, modulo the keys with events left (none left: the first) */
  picks: number[];
  /** after the `at`-th event: one earlier event again, or a whole prefix again (redelivery from the start) */
  again: Array<{ at: number; prefix: boolean; which: number }>;
  /** batch sizes, used in turn */
  sizes: number[];
}

interface Delivery {
  batches: RecordedEvent[][];
  toString(): string;
}

/** The delivery a plan describes: each key's events in their order, keys interleaved by `picks`, then the redeliveries, cut in batches. */
function deliveryOf(events: readonly RecordedEvent[], keyOf: (e: RecordedEvent) => string, plan: Plan): Delivery {
  const queues = new Map<string, RecordedEvent[]>();
  for (const e of events) queues.set(keyOf(e), [...(queues.get(keyOf(e)) ?? []), e]);
  const order: RecordedEvent[] = [];
  for (let i = 0; queues.size > 0; i++) {
    const keys = [...queues.keys()];
    const key = keys[(plan.picks[i] ?? 0) % keys.length]!;
    const q = queues.get(key)!;
    order.push(q.shift()!);
    if (q.length === 0) queues.delete(key);
  }
  const again = [...plan.again].map((a) => ({ ...a, at: a.at % order.length })).sort((a, b) => a.at - b.at);
  const sequence: RecordedEvent[] = [];
  const marks: string[] = [];
  order.forEach((e, i) => {
    sequence.push(e);
    for (const a of again.filter((x) => x.at === i)) {
      const n = 1 + (a.which % (i + 1));
      if (a.prefix) {
        sequence.push(...order.slice(0, n));
        marks.push(`after #${e.globalPosition}: the first ${n} again`);
      } else {
        sequence.push(order[n - 1]!);
        marks.push(`after #${e.globalPosition}: #${order[n - 1]!.globalPosition} again`);
      }
    }
  });
  const batches: RecordedEvent[][] = [];
  for (let i = 0, s = 0; i < sequence.length; s++) {
    const size = plan.sizes[s % plan.sizes.length]!;
    batches.push(sequence.slice(i, i + size));
    i += size;
  }
  const text =
    `${sequence.length} deliveries in ${batches.length} batches (sizes ${plan.sizes.join(',')}); order by global position: ` +
    `${order.map((e) => e.globalPosition).join(' ')}; redelivered: ${marks.join('; ') || 'nothing'}`;
  return { batches, toString: () => text, [fc.toStringMethod]: () => text } as Delivery;
}

function deliveries(events: readonly RecordedEvent[], keyOf: (e: RecordedEvent) => string): fc.Arbitrary<Delivery> {
  return fc
    .record({
      picks: fc.array(fc.nat(), { maxLength: events.length }),
      again: fc.array(fc.record({ at: fc.nat(), prefix: fc.boolean(), which: fc.nat() }), { maxLength: 12 }),
      sizes: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
    })
    .map((plan) => deliveryOf(events, keyOf, plan));
}

const inOrder = (events: readonly RecordedEvent[]): RecordedEvent[][] => {
  const out: RecordedEvent[][] = [];
  for (let i = 0; i < events.length; i += REFERENCE_BATCH) out.push(events.slice(i, i + REFERENCE_BATCH));
  return out;
};

// ── The scenario ─────────────────────────────────────────────────────────────

let p: Platform;
let log: RecordedEvent[];
/** each group's tables as the live consumers left them */
const liveTables: Record<string, Record<string, string[]>> = {};
const envs: Env[] = [];
const dbs: TestDatabase[] = [];
const closers: Array<() => Promise<void>> = [];
const counts = { log: 0, scenarioMs: 0 };
/** each watch's own cancellations in the live store, as appendedSince shows effects */
const liveEffects: Record<string, string[]> = {};

async function driveScenario(): Promise<void> {
  const clock = p.infra.clock as ManualClock;
  const ok = async (who: Parameters<Platform['ok']>[0], method: string, url: string, body?: unknown) => {
    // every command an hour after the one before: times differ, nothing becomes overdue
    clock.advance(3_600_000);
    return p.ok(who, method, url, body);
  };
  const register = async (givenName: string, familyName: string, consents: Array<'assessment' | 'referral_sharing'>) => {
    const { personId } = await ok('admin', 'POST', '/persons', {
      accessPoint: 'pistoia-centro',
      municipality: 'Pistoia',
      givenName,
      familyName,
      birthDate: '1987-02-02',
      phone: '+39 0573 555111',
    });
    for (const scope of consents) await give(personId as string, scope);
    return personId as string;
  };
  const give = (personId: string, scope: string) => ok('admin', 'POST', `/persons/${personId}/consents`, { scope, legalBasis: 'explicit_consent' });
  const withdraw = (personId: string, scope: string) => ok('admin', 'POST', `/persons/${personId}/consents/${scope}/withdrawal`);
  const start = async (personId: string) => (await ok('team', 'POST', '/assessments', { personId, team: TEAM })).assessmentId as string;
  const complete = async (assessmentId: string) => {
    const levels = { economic: 2, employment: 0, education: 0, housing: 2, social_network: 1, health_care: 0, training: 1 };
    for (const [domain, needLevel] of Object.entries(levels)) await ok('team', 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel });
    await ok('team', 'POST', `/assessments/${assessmentId}/completion`, { goals: [] });
    return assessmentId;
  };
  const refer = async (personId: string, assessmentId: string, to: typeof OWN | typeof OTHER) =>
    (await ok('team', 'POST', '/referrals', { personId, assessmentId, partnerId: to.partnerId, serviceId: to.serviceId, reason: 'sfratto esecutivo', priority: 'routine' }))
      .referralId as string;
  const answer = (to: typeof OWN | typeof OTHER, referralId: string, what: string, body: unknown = {}) =>
    ok(to === OWN ? 'partnerOwn' : 'partnerOther', 'POST', `/referrals/${referralId}/${what}`, body);

  await p.cases.network();
  await ok('admin', 'PUT', `/partners/${OWN.partnerId}/services/${OWN.serviceId}/capacity`, { capacity: 40 });
  const a = await register('Rosa', 'Esposito', ['assessment', 'referral_sharing']);
  const b = await register('Marco', 'Bianchi', ['assessment', 'referral_sharing']);
  const c = await register('Giulia', 'Neri', ['assessment', 'referral_sharing']);
  const d = await register('Luca', 'Ferri', ['assessment', 'referral_sharing']);
  // a likely duplicate of A (same names and birth date), with one consent
  const e = await register('Rosa', 'Esposito', ['assessment', 'referral_sharing']);
  await ok('admin', 'PUT', `/persons/${e}/contact-details`, { phone: '+39 0573 555222' });
  await p.settled();

  const aA = await complete(await start(a));
  const aB = await complete(await start(b));
  const aC = await complete(await start(c));
  const dFirst = await start(d);
  await ok('team', 'POST', `/assessments/${dFirst}/cancellation`, { reason: 'started_in_error' });
  const aD = await complete(await start(d));
  const aE = await complete(await start(e));
  await p.settled();

  const rA1 = await refer(a, aA, OWN);
  await answer(OWN, rA1, 'acceptance', { expectedStart: '2026-12-01' });
  await answer(OWN, rA1, 'start');
  await answer(OWN, rA1, 'completion', { outcome: 'achieved' });
  const rA2 = await refer(a, aA, OTHER);
  await answer(OTHER, rA2, 'decline', { reason: 'not_eligible' });
  await refer(b, aB, OWN); // rB1
  const rC1 = await refer(c, aC, OWN);
  await ok('team', 'POST', `/referrals/${rC1}/cancellation`, { reason: 'team_decision' });
  const rC2 = await refer(c, aC, OTHER);
  await answer(OTHER, rC2, 'acceptance');
  const rD1 = await refer(d, aD, OWN);
  await answer(OWN, rD1, 'acceptance');
  await answer(OWN, rD1, 'start');
  const rE1 = await refer(e, aE, OWN);
  await answer(OWN, rE1, 'acceptance');
  await p.settled();

  // B: referral_sharing withdrawn (the watch cancels rB1), given again, a new referral to the same service
  await withdraw(b, 'referral_sharing');
  await p.settled();
  await give(b, 'referral_sharing');
  await p.settled();
  const rB2 = await refer(b, aB, OWN);
  await answer(OWN, rB2, 'acceptance');
  // B: the assessment consent withdrawn with nothing open, given again, then an assessment left open
  await withdraw(b, 'assessment');
  await p.settled();
  await give(b, 'assessment');
  await p.settled();
  await start(b);
  // C: an open assessment, then both consents withdrawn (the watch cancels the assessment and rC2), then the erasure
  await start(c);
  await withdraw(c, 'assessment');
  await withdraw(c, 'referral_sharing');
  await p.settled();
  await ok('admin', 'POST', `/persons/${c}/erasure`, { reason: 'data_subject_request' });
  // E: erased with rE1 accepted (the watch cancels it)
  await ok('admin', 'POST', `/persons/${e}/erasure`, { reason: 'data_subject_request' });
  // D: referral_sharing withdrawn while rD1 is in progress, then given again; A withdraws it with nothing open
  await withdraw(d, 'referral_sharing');
  await p.settled();
  await give(d, 'referral_sharing');
  await withdraw(a, 'referral_sharing');
  await p.settled();
}

/**
 * The events stored after `after`, in log order, as the bus hands them over.
 * Read from the table itself: the store's gap-safe reads wait for every
 * transaction of the (shared) server, and may not show the last events yet.
 */
async function eventsAfter(ctx: ServiceContext, after: number): Promise<RecordedEvent[]> {
  const rows = await ctx.db.query<Record<string, unknown>>(
    `SELECT global_position, stream_id, stream_position, event_id, event_type, schema_version, data, metadata,
            encode(hash, 'hex') AS hash, encode(prev_hash, 'hex') AS prev_hash
       FROM eventstore.events WHERE global_position > $1 ORDER BY global_position`,
    [after],
  );
  return rows.map((r) => {
    const m = r.metadata as Record<string, unknown>;
    return liftRecorded({
      id: r.event_id as string,
      type: r.event_type as string,
      schemaVersion: Number(r.schema_version),
      source: m.source as string,
      subject: r.stream_id as string,
      time: m.time as string,
      partitionKey: m.partitionKey as string,
      correlationId: m.correlationId as string,
      causationId: (m.causationId as string | null | undefined) ?? null,
      actor: m.actor as RecordedEvent['actor'],
      data: r.data,
      streamPosition: Number(r.stream_position),
      globalPosition: Number(r.global_position),
      hash: r.hash as string,
      prevHash: (r.prev_hash as string | null) ?? null,
    });
  });
}

const rawOf = (e: RecordedEvent): RawEnvelope => ({
  id: e.id,
  type: e.type,
  schemaVersion: e.schemaVersion,
  source: e.source,
  subject: e.subject,
  time: e.time,
  partitionKey: e.partitionKey,
  correlationId: e.correlationId,
  causationId: e.causationId,
  actor: e.actor,
  data: e.data,
});

/** A fresh database whose store holds `events`, re-appended in their order with their ids (the person keys and index key of the scenario). */
async function replayedEnv(label: string, events: readonly RecordedEvent[]): Promise<Env> {
  const db = await createTestDatabase(label);
  dbs.push(db);
  const infra = await openTestInfrastructure({ databaseUrl: db.url });
  closers.push(() => infra.close());
  for (const e of events) await infra.store.append(e.subject, [rawOf(e)], 'any');
  return openEnv(label, { ...infra, keyring: p.infra.keyring, indexKey: p.infra.indexKey });
}

const onTopics = (events: readonly RecordedEvent[], topics: readonly string[]) => events.filter((e) => topics.includes(topicForStream(e.subject) ?? ''));
const ownEffect = (group: string) => (e: RecordedEvent) => e.actor.id === WATCH_ACTOR[group];

beforeAll(async () => {
  const t0 = Date.now();
  p = await openPlatform('redeliveryprop');
  await driveScenario();
  await p.stopBackground();
  counts.scenarioMs = Date.now() - t0;
  for (const [group, tables] of Object.entries(TABLES_OF)) liveTables[group] = await dumpTables(p.infra, tables);
  log = await eventsAfter(p.infra, 0);
  for (const [group, actor] of Object.entries(WATCH_ACTOR)) {
    const rows = await p.infra.db.query<{ e: string }>(
      `SELECT event_type || ' ' || stream_id || ' ' || data::text AS e FROM eventstore.events WHERE metadata->'actor'->>'id' = $1 ORDER BY 1`,
      [actor],
    );
    liveEffects[group] = rows.map((r) => r.e);
  }
  counts.log = log.length;
  const byType = new Map<string, number>();
  for (const e of log) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
  console.log(`seed ${SEED}, ${RUNS} runs per property; scenario: ${log.length} events in ${counts.scenarioMs} ms: ${[...byType].map(([t, n]) => `${t} ${n}`).join(', ')}`);

  // the live store (every effect in it) and one replayed store per watch (without its own effects)
  envs.push(await openEnv('live', p.infra));
  envs.push(await replayedEnv('replayref', log.filter((e) => !ownEffect('referral-facts')(e))));
  envs.push(await replayedEnv('replayass', log.filter((e) => !ownEffect('assessment-facts')(e))));
}, 240_000);

afterAll(async () => {
  for (const env of envs) await env.stop();
  for (const close of closers) await close();
  await p?.close();
  for (const db of dbs) await db.drop();
});

/** Kafka's own guarantee: the order of one partition of one topic (a person's intake, assessment and referral events may pass each other). */
const byTopicAndKey = (e: RecordedEvent) => `${topicForStream(e.subject)}/${e.partitionKey}`;

const env = (label: string) => envs.find((e) => e.label === label)!;

/**
 * The property for one consumer group on one env: its reference run (one
 * in-order delivery) first, then random deliveries compared with it.
 */
async function property(
  group: string,
  envLabel: string,
  input: readonly RecordedEvent[],
  check: (reference: Awaited<ReturnType<ReturnType<typeof consumerOn>['effects']>>) => void,
  keyOf: (e: RecordedEvent) => string = (e) => e.partitionKey,
) {
  const c = consumerOn(env(envLabel), group);
  const events = onTopics(input, c.topics);
  expect(events.length).toBeGreaterThan(0);
  await c.reset();
  await c.deliver(inOrder(events));
  const reference = await c.effects();
  check(reference);
  let runs = 0;
  const t0 = Date.now();
  await fc.assert(
    fc.asyncProperty(deliveries(events, keyOf), async (d) => {
      runs++;
      await c.reset();
      await c.deliver(d.batches);
      expect(await c.effects()).toEqual(reference);
    }),
    { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 100_000, markInterruptAsFailure: false },
  );
  console.log(`${group} on the ${envLabel} store (${keyOf === byTopicAndKey ? 'order per topic and key' : 'order per key'}): ${events.length} events, ${runs} deliveries in ${Date.now() - t0} ms`);
}

describe('each consumer, fed random interleavings with duplicates of a real scenario, ends with the effects of one in-order delivery', () => {
  it('the scenario has what the consumers must get right', () => {
    const types = new Set(log.map((e) => e.type));
    for (const t of ['ConsentWithdrawn', 'PersonalDataErased', 'ReferralCancelled', 'AssessmentCancelled', 'ReferralAccepted', 'ReferralDeclined', 'ServiceStarted', 'ServiceCompleted', 'ServiceCapacityChanged'])
      expect(types, t).toContain(t);
    // the watches' own cancellations: rB1, rD1, rC2 (withdrawals), rE1 (erasure); C's open assessment
    expect(log.filter(ownEffect('referral-facts')).filter((e) => e.type === 'ReferralCancelled')).toHaveLength(4);
    expect(log.filter(ownEffect('assessment-facts')).filter((e) => e.type === 'AssessmentCancelled')).toHaveLength(1);
  });

  for (const group of ['referral-view', 'intake-partner-referrals', 'intake-duplicates', 'intake-person-search', 'projections']) {
    it(`${group}: the same tables whatever the delivery`, async () => {
      await property(group, 'replayref', log, (reference) => expect(reference.tables, 'the in-order delivery rebuilds the live tables').toEqual(liveTables[group]));
    }, 180_000);
  }

  it('assessment-documents: whatever the delivery, the erased people\'s documents go and the others stay', async () => {
    const erased = new Set(log.filter((e) => e.type === 'PersonalDataErased').map((e) => e.partitionKey));
    const people = new Set(log.filter((e) => e.type === 'PersonRegistered').map((e) => e.partitionKey));
    expect(erased.size).toBeGreaterThan(0);
    await property('assessment-documents', 'replayref', log, (reference) => {
      const kept = reference.tables['documents.documents']!.map((row) => (JSON.parse(row) as { person_id: string }).person_id).sort();
      expect(kept).toEqual([...people].filter((id) => !erased.has(id)).sort());
    });
  }, 180_000);

  for (const [group, replayed] of [['referral-facts', 'replayref'], ['assessment-facts', 'replayass']] as const) {
    it(`${group} (facts view and consent watch), on the live store: redelivered in any way, it appends nothing`, async () => {
      await property(group, 'live', log, (reference) => {
        expect(reference.tables, 'the in-order delivery rebuilds the live facts').toEqual(liveTables[group]);
        expect(reference.appended, 'a redelivery onto the live store cancels nothing').toEqual([]);
      });
    }, 180_000);

    // A start or referral seen under a consent that has already ended is
    // cancelled with the reason that ended it (CaseFactsView.consentEndReason:
    // a withdrawal of that consent → consent_withdrawn, else the erasure),
    // whatever else the batch held: a withdrawal and a later erasure in one
    // batch once made it personal_data_erased, one event at a time
    // consent_withdrawn.
    it(`${group} (facts view and consent watch), on the store without its own cancellations: it makes them again, once, whatever the delivery`, async () => {
      const own = liveEffects[group]!;
      await property(group, replayed, log.filter((e) => !ownEffect(group)(e)), (reference) => {
        expect(reference.tables, 'the in-order delivery rebuilds the live facts').toEqual(liveTables[group]);
        expect(reference.appended, 'the in-order delivery appends what the live watch appended').toEqual(own);
      });
    }, 180_000);
  }

  describe('with only the order of each topic and key kept (Kafka keeps no order across topics)', () => {
    for (const [group, envLabel] of [
      ['referral-view', 'replayref'],
      ['projections', 'replayref'],
      ['referral-facts', 'live'],
      ['assessment-facts', 'live'],
    ] as const) {
      it(`${group}`, async () => {
        await property(group, envLabel, log, (reference) => expect(reference.tables).toEqual(liveTables[group]), byTopicAndKey);
      }, 180_000);
    }
  });
});
