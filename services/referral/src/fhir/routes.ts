import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fastJsonPatch from 'fast-json-patch';
import { liftRecorded, type ReferralStatus } from '@onestop/events';
import { eventContextOf, principalOf, type Principal, type Role, type ServiceContext } from '@onestop/kit';
import type { GoalView } from '../goal-view.js';
import type { ReferralRecord } from '../referral-view.js';
import type { Referrals } from '../referrals.js';
import { capabilityStatement } from './capability.js';
import {
  capacityExtensionDefinition,
  CODE_SYSTEMS,
  codeSystemResource,
  consentResource,
  goalResource,
  healthcareServiceId,
  healthcareServiceResource,
  organizationResource,
  patientResource,
  serviceRequestResource,
  taskResource,
  type PartnerFacts,
  type Resource,
  type TaskFacts,
} from './resources.js';
import { fhirErrorHandler, sendOutcome, sendResource } from './http.js';
import { answerOf, FHIR_TASK_STATUSES, FhirRefusal } from './task-change.js';
import { taskFactsOf } from './task-facts.js';
import type { Subscriptions } from './subscriptions.js';
import { subscriptionRoutes } from './subscription-routes.js';

// The FHIR R4 facade (/fhir, JSON only). Reads come from the referral
// service's views; every change of a Task goes through Referrals.answer, the
// use case the native HTTP answers and the Kafka partner gateway use, so the
// referral decider alone says what may happen. Every error under /fhir is an
// OperationOutcome (never problem+json, never a 500 with details, never input
// echoed back).

const SOURCE = '/onestop/referral';
/** Everyone who reads referrals natively reads them here too (a partner: only its own). */
export const FHIR_READERS: readonly Role[] = ['operator', 'team', 'partner', 'auditor', 'admin'];
const PAGE_DEFAULT = 20;
const PAGE_MAX = 100;

// ── Search parameters ────────────────────────────────────────────────────────
type Query = Record<string, string | string[] | undefined>;
const values = (q: Query, name: string): string[] => [q[name] ?? []].flat();
const one = (q: Query, name: string): string | undefined => {
  const v = values(q, name);
  if (v.length > 1) throw new FhirRefusal(400, 'invalid', `search parameter ${name} may be given once`);
  return v[0];
};
const refId = (value: string, type: string, param: string): string => {
  const id = value.startsWith(`${type}/`) ? value.slice(type.length + 1) : value;
  if (!/^[A-Za-z0-9.-]{1,64}$/.test(id)) throw new FhirRefusal(400, 'invalid', `search parameter ${param} must be a ${type} reference or id`);
  return id;
};
function checkParams(q: Query, allowed: readonly string[]): void {
  for (const name of Object.keys(q)) {
    if (!allowed.includes(name)) throw new FhirRefusal(400, 'not-supported', `unknown or unsupported search parameter (supported: ${allowed.join(', ')})`);
  }
}
const UPDATED = /^(eq|gt|ge|lt|le)?(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)$/;
type Bound = readonly ['gt' | 'ge' | 'lt' | 'le', string];
/** `_lastUpdated` as bounds: eq on a date is that whole day, eq on an instant that instant. */
function lastUpdated(q: Query): Bound[] {
  const bounds: Bound[] = [];
  for (const v of values(q, '_lastUpdated')) {
    const m = UPDATED.exec(v);
    const at = m ? new Date(m[2]!.length === 10 ? `${m[2]}T00:00:00Z` : m[2]!) : undefined;
    if (!m || !at || Number.isNaN(at.getTime())) throw new FhirRefusal(400, 'invalid', '_lastUpdated must be [gt|ge|lt|le|eq]<date or dateTime with a zone>');
    const op = (m[1] ?? 'eq') as 'eq' | Bound[0];
    if (op !== 'eq') bounds.push([op, at.toISOString()]);
    else if (m[2]!.length === 10) bounds.push(['ge', at.toISOString()], ['lt', new Date(at.getTime() + 86_400_000).toISOString()]);
    else bounds.push(['ge', at.toISOString()], ['le', at.toISOString()]);
  }
  return bounds;
}
function pageSize(q: Query): number {
  const c = one(q, '_count');
  if (c === undefined) return PAGE_DEFAULT;
  if (!/^\d{1,4}$/.test(c) || Number(c) < 1) throw new FhirRefusal(400, 'invalid', `_count must be a whole number from 1 to ${PAGE_MAX}`);
  return Math.min(Number(c), PAGE_MAX);
}
const cursorOf = (r: ReferralRecord) => Buffer.from(JSON.stringify([r.updatedAt, r.referralId])).toString('base64url');
function parseCursor(q: Query): readonly [string, string] | undefined {
  const c = one(q, '_cursor');
  if (c === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && /^[0-9a-f-]{36}$/.test(v[1])) {
      return [v[0], v[1]];
    }
  } catch {
    // falls through to the refusal
  }
  throw new FhirRefusal(400, 'invalid', '_cursor is not a cursor this server gave');
}

const TASK_INCLUDES = ['Task:focus', 'Task:patient', 'Task:for', 'Task:owner'] as const;

/** The base URL of this facade as the client reached it (for Bundle fullUrl and links). */
const baseOf = (req: FastifyRequest) => `${req.protocol}://${req.host}/fhir`;

const toTaskFacts = (r: ReferralRecord): TaskFacts => ({ ...r, status: r.status as ReferralStatus });


export interface FhirDependencies {
  referrals: Referrals;
  goals: GoalView;
  subscriptions: Subscriptions;
}

/** The /fhir facade as a fastify plugin (register it with the prefix /fhir). */
export const fhirRoutes = (deps: FhirDependencies): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const { referrals, goals } = deps;
    app.setErrorHandler(fhirErrorHandler);
    // in the OpenAPI document under one tag (the resources themselves are described by FHIR, not by JSON Schemas here)
    app.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, tags: ['fhir'], summary: `FHIR R4: ${[route.method].flat().join(', ')} ${route.url.replace(/^\/fhir/, '')}` };
    });
    app.setNotFoundHandler((req, reply) => sendOutcome(reply, 404, `no FHIR interaction ${req.method} ${req.routeOptions.url ?? 'at this address'} here; see /fhir/metadata`, 'not-supported'));
    // FHIR JSON and JSON Patch bodies; application/json stays fastify's own
    for (const type of ['application/fhir+json', 'application/json-patch+json']) {
      app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(new FhirRefusal(400, 'structure', 'the body is not valid JSON'), undefined);
        }
      });
    }

    const partnerOf = (p: Principal) => (p.role === 'partner' ? p.partnerId! : undefined);
    /** A Task the caller may see, read from its stream (exact), or 404 (a partner must not learn that another partner's Task exists). */
    const visibleTask = async (req: FastifyRequest, referralId: string): Promise<TaskFacts> => {
      const facts = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(referralId)
        ? taskFactsOf((await ctx.store.readStream(`referral-${referralId}`)).map(liftRecorded))
        : undefined;
      const own = partnerOf(principalOf(req));
      if (!facts || (own && facts.partnerId !== own)) throw new FhirRefusal(404, 'not-found', 'the Task is not known');
      return facts;
    };
    /** The partners of the directory view, by id. */
    const directory = async (): Promise<PartnerFacts[]> => referrals.view.partners();
    const entry = (req: FastifyRequest, r: Resource, mode: 'match' | 'include') => ({ fullUrl: `${baseOf(req)}/${r.resourceType}/${r.id}`, resource: r, search: { mode } });
    const searchset = (entries: object[], links: Array<{ relation: string; url: string }>) => ({
      resourceType: 'Bundle',
      type: 'searchset',
      link: links,
      // an empty array is not valid FHIR: no matches, no entry
      ...(entries.length ? { entry: entries } : {}),
    });
    const selfLink = (req: FastifyRequest) => ({ relation: 'self', url: `${baseOf(req)}${req.url.slice('/fhir'.length)}` });

    // ── Conformance ─────────────────────────────────────────────────────────
    app.get('/metadata', {}, async (req, reply) => sendResource(reply, 200, capabilityStatement(baseOf(req))));
    app.get<{ Params: { id: string } }>('/CodeSystem/:id', {}, async (req, reply) => {
      const cs = Object.values(CODE_SYSTEMS).find((c) => c.id === req.params.id);
      if (!cs) throw new FhirRefusal(404, 'not-found', 'no such CodeSystem');
      return sendResource(reply, 200, codeSystemResource(cs));
    });
    app.get<{ Params: { id: string } }>('/StructureDefinition/:id', {}, async (req, reply) => {
      if (req.params.id !== capacityExtensionDefinition.id) throw new FhirRefusal(404, 'not-found', 'no such StructureDefinition');
      return sendResource(reply, 200, capacityExtensionDefinition);
    });

    // ── Task ────────────────────────────────────────────────────────────────
    app.get<{ Params: { id: string } }>('/Task/:id', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      const facts = await visibleTask(req, req.params.id);
      return sendResource(reply.header('etag', `W/"${facts.version}"`), 200, taskResource(facts));
    });

    app.get<{ Querystring: Query }>('/Task', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      const q = req.query;
      checkParams(q, ['owner', 'status', 'patient', '_lastUpdated', '_include', '_count', '_cursor', '_format']);
      const own = partnerOf(principalOf(req));
      const owners = values(q, 'owner').flatMap((v) => v.split(',')).map((v) => refId(v, 'Organization', 'owner'));
      // a partner sees only its own Tasks, as in its native inbox (asking for another's is refused, not emptied)
      if (own && owners.some((o) => o !== own)) throw new FhirRefusal(403, 'forbidden', 'a partner sees only its own Tasks');
      const statuses = values(q, 'status').flatMap((v) => v.split(','));
      if (statuses.some((s) => !(FHIR_TASK_STATUSES as readonly string[]).includes(s))) throw new FhirRefusal(400, 'invalid', `status must be among ${FHIR_TASK_STATUSES.join(', ')}`);
      const patient = one(q, 'patient');
      const includes = values(q, '_include');
      if (includes.some((i) => !(TASK_INCLUDES as readonly string[]).includes(i))) throw new FhirRefusal(400, 'not-supported', `_include supports ${TASK_INCLUDES.join(', ')}`);
      const limit = pageSize(q);
      const rows = await referrals.view.search({
        ...(own ? { partnerIds: [own] } : owners.length ? { partnerIds: owners } : {}),
        ...(statuses.length ? { statuses } : {}),
        ...(patient ? { personId: checkUuid(refId(patient, 'Patient', 'patient'), 'patient') } : {}),
        updated: lastUpdated(q),
        ...(parseCursor(q) ? { after: parseCursor(q)! } : {}),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const entries: object[] = page.map((r) => entry(req, taskResource(toTaskFacts(r)), 'match'));
      const included = new Map<string, Resource>();
      const partners = includes.includes('Task:owner') ? await directory() : [];
      for (const r of page) {
        if (includes.includes('Task:focus')) included.set(`ServiceRequest/${r.referralId}`, await serviceRequestOf(toTaskFacts(r)));
        if (includes.includes('Task:patient') || includes.includes('Task:for')) included.set(`Patient/${r.personId}`, patientResource(r.personId));
        const p = partners.find((x) => x.partnerId === r.partnerId);
        if (p) included.set(`Organization/${p.partnerId}`, organizationResource(p));
      }
      for (const r of included.values()) entries.push(entry(req, r, 'include'));
      const links = [selfLink(req)];
      if (rows.length > limit) {
        const next = new URLSearchParams();
        for (const [k, v] of Object.entries(q)) if (k !== '_cursor') for (const x of [v ?? []].flat()) next.append(k, x);
        next.set('_cursor', cursorOf(page.at(-1)!));
        links.push({ relation: 'next', url: `${baseOf(req)}/Task?${next.toString()}` });
      }
      return sendResource(reply, 200, searchset(entries, links));
    });

    /** Applies a partner's new Task through the referral use case; the Task as it is afterwards. */
    const changeTask = async (req: FastifyRequest, referralId: string, next: unknown, reply: FastifyReply) => {
      const p = principalOf(req);
      const facts = await visibleTask(req, referralId);
      const current = taskResource(facts);
      const ifMatch = req.headers['if-match'];
      if (typeof ifMatch === 'string' && ifMatch.replace(/^W\//, '').replace(/"/g, '') !== String(facts.version)) {
        throw new FhirRefusal(412, 'conflict', 'the Task has changed since the version given in If-Match');
      }
      const answer = answerOf(current, next, referralId);
      if (!answer) return sendResource(reply.header('etag', `W/"${facts.version}"`), 200, current);
      await referrals.answer(p.partnerId!, referralId, answer, eventContextOf(req, SOURCE, ctx.clock.now()));
      // the Task as its stream now stands (the views catch up on their own)
      const after = await visibleTask(req, referralId);
      return sendResource(reply.header('etag', `W/"${after.version}"`), 200, taskResource(after));
    };

    app.put<{ Params: { id: string } }>('/Task/:id', { config: { roles: ['partner'], ownBody: true } }, async (req, reply) => changeTask(req, req.params.id, req.body, reply));

    app.patch<{ Params: { id: string } }>('/Task/:id', { config: { roles: ['partner'], ownBody: true } }, async (req, reply) => {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json-patch+json')) {
        throw new FhirRefusal(415, 'not-supported', 'PATCH takes a JSON Patch (application/json-patch+json)');
      }
      const patched = applyPatch(taskResource(await visibleTask(req, req.params.id)), req.body);
      return changeTask(req, req.params.id, patched, reply);
    });

    // ── ServiceRequest, Patient, Consent, Goal ──────────────────────────────
    const serviceRequestOf = async (r: TaskFacts) => {
      const goalIds = r.assessmentId && r.domain ? (await goals.list({ assessmentId: r.assessmentId, domain: r.domain })).map((g) => g.goalId) : [];
      const service = (await directory()).find((p) => p.partnerId === r.partnerId)?.services.find((s) => s.serviceId === r.serviceId);
      return serviceRequestResource(r, goalIds, service?.name);
    };
    app.get<{ Params: { id: string } }>('/ServiceRequest/:id', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      const facts = await visibleTask(req, req.params.id);
      return sendResource(reply, 200, await serviceRequestOf(facts));
    });

    /** A partner reads what concerns a person only while it has a referral of that person. */
    const mayReadPerson = async (req: FastifyRequest, personId: string) => {
      const own = partnerOf(principalOf(req));
      return !own || referrals.view.partnerKnowsPerson(own, personId);
    };

    app.get<{ Params: { id: string } }>('/Patient/:id', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      const personId = req.params.id;
      const person = /^[0-9a-f-]{36}$/.test(personId) ? await referrals.facts.person(personId) : undefined;
      if (!person || person.erased || !(await mayReadPerson(req, personId))) throw new FhirRefusal(404, 'not-found', 'the Patient is not known');
      return sendResource(reply, 200, patientResource(personId));
    });

    app.get<{ Params: { id: string } }>('/Consent/:id', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      const id = req.params.id;
      const given = /^[0-9a-f-]{36}$/.test(id) ? await referrals.facts.consentGiven(id) : undefined;
      const own = partnerOf(principalOf(req));
      if (!given || given.scope !== 'referral_sharing' || (own && !(await referrals.view.partnerKnowsConsent(own, id)))) {
        throw new FhirRefusal(404, 'not-found', 'the Consent is not known');
      }
      const endedBy = (await referrals.facts.consentEndReason(given.personId, id)) ?? null;
      return sendResource(reply, 200, consentResource({ consentEventId: id, personId: given.personId, endedBy }));
    });

    app.get<{ Params: { id: string } }>('/Goal/:id', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      const g = /^[0-9a-f-]{36}$/.test(req.params.id) ? await goals.get(req.params.id) : undefined;
      if (!g || !(await mayReadPerson(req, g.personId))) throw new FhirRefusal(404, 'not-found', 'the Goal is not known');
      return sendResource(reply, 200, goalResource(g));
    });

    app.get<{ Querystring: Query }>('/Goal', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      checkParams(req.query, ['patient', 'subject', '_format']);
      const ref = one(req.query, 'patient') ?? one(req.query, 'subject');
      if (!ref) throw new FhirRefusal(400, 'required', 'Goal search needs patient (goals are read one person at a time)');
      const personId = checkUuid(refId(ref, 'Patient', 'patient'), 'patient');
      const found = (await mayReadPerson(req, personId)) ? await goals.list({ personId }) : [];
      return sendResource(reply, 200, searchset(found.map((g) => entry(req, goalResource(g), 'match')), [selfLink(req)]));
    });

    // ── Directory: Organization and HealthcareService ───────────────────────
    app.get<{ Params: { id: string } }>('/Organization/:id', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      const p = (await directory()).find((x) => x.partnerId === req.params.id);
      if (!p) throw new FhirRefusal(404, 'not-found', 'the Organization is not known');
      return sendResource(reply, 200, organizationResource(p));
    });
    app.get<{ Querystring: Query }>('/Organization', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      checkParams(req.query, ['_format']);
      const entries = (await directory()).map((p) => entry(req, organizationResource(p), 'match'));
      return sendResource(reply, 200, searchset(entries, [selfLink(req)]));
    });
    app.get<{ Params: { id: string } }>('/HealthcareService/:id', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      for (const p of await directory()) {
        const s = p.services.find((x) => healthcareServiceId(p.partnerId, x.serviceId) === req.params.id);
        if (s) return sendResource(reply, 200, healthcareServiceResource(p, s));
      }
      throw new FhirRefusal(404, 'not-found', 'the HealthcareService is not known');
    });
    app.get<{ Querystring: Query }>('/HealthcareService', { config: { roles: FHIR_READERS } }, async (req, reply) => {
      checkParams(req.query, ['organization', '_format']);
      const org = one(req.query, 'organization');
      const orgId = org ? refId(org, 'Organization', 'organization') : undefined;
      const entries = (await directory())
        .filter((p) => !orgId || p.partnerId === orgId)
        .flatMap((p) => p.services.map((s) => entry(req, healthcareServiceResource(p, s), 'match')));
      return sendResource(reply, 200, searchset(entries, [selfLink(req)]));
    });

    await app.register(subscriptionRoutes(deps.subscriptions, { now: () => ctx.clock.now(), production: ctx.config.NODE_ENV === 'production' }));
  };

function checkUuid(id: string, param: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new FhirRefusal(400, 'invalid', `${param} must name a Patient by its id`);
  return id;
}

/** RFC 6902 on a copy of the Task; a patch that does not apply is a 422 (the Task is left as it is). */
function applyPatch(task: Resource, patch: unknown): unknown {
  if (!Array.isArray(patch) || patch.length === 0 || patch.length > 50) throw new FhirRefusal(400, 'invalid', 'a JSON Patch is an array of 1 to 50 operations');
  const err = fastJsonPatch.validate(patch as fastJsonPatch.Operation[], task);
  if (err) throw new FhirRefusal(422, 'processing', `the JSON Patch does not apply: ${err.name}`);
  try {
    return fastJsonPatch.applyPatch(structuredClone(task), patch as fastJsonPatch.Operation[], true, false, true).newDocument;
  } catch (e) {
    throw new FhirRefusal(422, 'processing', `the JSON Patch does not apply: ${(e as { name?: string }).name ?? 'invalid operation'}`);
  }
}
