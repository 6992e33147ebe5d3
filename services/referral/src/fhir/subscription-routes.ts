import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { eventContextOf, principalOf } from '@onestop/kit';
import { operationOutcome, TASK_TOPIC_URL, type Resource } from './resources.js';
import { sendResource } from './http.js';
import type { Subscriptions, SubscriptionView } from './subscriptions.js';
import { FhirRefusal } from './task-change.js';

// /fhir/Subscription: a partner registers its rest-hook endpoint for its
// Tasks (R4 Subscriptions Backport). The resource is read back from the
// subscription's stream: status (requested, active, error, off) and the last
// error come from what the couriers recorded.

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const SOURCE = '/onestop/referral';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const extensionValue = (holder: unknown, url: string, key: string): unknown => {
  if (!isObject(holder) || !Array.isArray(holder.extension)) return undefined;
  const ext = holder.extension.find((x) => isObject(x) && x.url === url) as Record<string, unknown> | undefined;
  return ext?.[key];
};

/** The Subscription resource of a subscription. */
export function subscriptionResource(s: SubscriptionView): Resource {
  return {
    resourceType: 'Subscription',
    id: s.subscriptionId!,
    status: s.status === 'none' ? 'requested' : s.status,
    reason: 'Notify the partner when one of its referral Tasks changes',
    criteria: s.topic!,
    _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: `Task?owner=Organization/${s.partnerId}` }] },
    ...(s.status === 'error' && s.error ? { error: `${s.error.message} (notification ${s.error.eventNumber}); retrying with backoff` } : {}),
    channel: {
      extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: s.heartbeatSeconds }],
      type: 'rest-hook',
      endpoint: s.endpoint!,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
    },
  };
}

/** What a POSTed Subscription asks for; refuses anything OneStop does not do. */
function parseSubscription(body: unknown, partnerId: string, production: boolean): { endpoint: string; heartbeatSeconds: number } {
  if (!isObject(body)) throw new FhirRefusal(400, 'structure', 'the body must be a FHIR resource (a JSON object)');
  if (body.resourceType !== 'Subscription') throw new FhirRefusal(400, 'invalid', 'the resource must be a Subscription', ['resourceType']);
  if (body.criteria !== TASK_TOPIC_URL) throw new FhirRefusal(422, 'not-supported', `Subscription.criteria must be the topic ${TASK_TOPIC_URL}`, ['Subscription.criteria']);
  const filter = extensionValue(body._criteria, `${BACKPORT}/backport-filter-criteria`, 'valueString');
  if (filter !== undefined && filter !== `Task?owner=Organization/${partnerId}` && filter !== `Task?owner=${partnerId}`) {
    throw new FhirRefusal(403, 'forbidden', 'a partner subscribes only to its own Tasks (Task?owner=Organization/<its id>)', ['Subscription.criteria']);
  }
  const channel = body.channel;
  if (!isObject(channel) || channel.type !== 'rest-hook') throw new FhirRefusal(422, 'not-supported', 'only rest-hook channels are supported', ['Subscription.channel.type']);
  if (channel.payload !== undefined && channel.payload !== 'application/fhir+json') throw new FhirRefusal(422, 'not-supported', 'notifications are application/fhir+json', ['Subscription.channel.payload']);
  const content = extensionValue(channel._payload, `${BACKPORT}/backport-payload-content`, 'valueCode');
  if (content !== undefined && content !== 'id-only') throw new FhirRefusal(422, 'not-supported', 'notifications carry ids only (id-only): resources are read with the partner’s own token', ['Subscription.channel.payload']);
  if (channel.header !== undefined) throw new FhirRefusal(422, 'not-supported', 'channel.header is not supported: headers would be stored in the log; see SECURITY.md', ['Subscription.channel.header']);
  let url: URL;
  try {
    url = new URL(String(channel.endpoint));
  } catch {
    throw new FhirRefusal(400, 'invalid', 'Subscription.channel.endpoint must be an absolute URL', ['Subscription.channel.endpoint']);
  }
  const secure = url.protocol === 'https:' || (!production && url.protocol === 'http:');
  if (!secure || url.username || url.password || url.hash || url.href.length > 2000) {
    throw new FhirRefusal(400, 'invalid', `Subscription.channel.endpoint must be ${production ? 'https' : 'http(s)'}, without credentials or fragment, at most 2000 characters`, [
      'Subscription.channel.endpoint',
    ]);
  }
  const hb = extensionValue(channel, `${BACKPORT}/backport-heartbeat-period`, 'valueUnsignedInt') ?? 0;
  if (typeof hb !== 'number' || !Number.isInteger(hb) || hb < 0 || hb > 86_400) {
    throw new FhirRefusal(400, 'invalid', 'the heartbeat period is a whole number of seconds up to 86400', ['Subscription.channel.extension']);
  }
  return { endpoint: url.href, heartbeatSeconds: hb };
}

/** The /fhir/Subscription routes (inside the /fhir plugin). */
export const subscriptionRoutes = (subscriptions: Subscriptions, opts: { now: () => Date; production: boolean }): FastifyPluginAsync =>
  async (app) => {
    const own = (req: FastifyRequest) => {
      const p = principalOf(req);
      return p.role === 'partner' ? p.partnerId! : undefined;
    };
    const visible = async (req: FastifyRequest, id: string): Promise<SubscriptionView> => {
      const s = /^[0-9a-f-]{36}$/.test(id) ? await subscriptions.get(id) : undefined;
      const partnerId = own(req);
      if (!s || (partnerId && s.partnerId !== partnerId)) throw new FhirRefusal(404, 'not-found', 'the Subscription is not known');
      return s;
    };

    app.post('/Subscription', { config: { roles: ['partner'], ownBody: true } }, async (req, reply) => {
      const partnerId = own(req)!;
      const input = parseSubscription(req.body, partnerId, opts.production);
      const id = await subscriptions.create({ partnerId, ...input }, eventContextOf(req, SOURCE, opts.now()));
      const created = (await subscriptions.get(id))!;
      return sendResource(reply.header('location', `/fhir/Subscription/${id}`), 201, subscriptionResource(created));
    });

    app.get<{ Params: { id: string } }>('/Subscription/:id', { config: { roles: ['partner', 'admin'] } }, async (req, reply) =>
      sendResource(reply, 200, subscriptionResource(await visible(req, req.params.id))),
    );

    app.get('/Subscription', { config: { roles: ['partner', 'admin'] } }, async (req, reply) => {
      const found = await subscriptions.list(own(req));
      return sendResource(reply, 200, {
        resourceType: 'Bundle',
        type: 'searchset',
        ...(found.length
          ? { entry: found.map((s) => ({ fullUrl: `${subscriptions.options.baseUrl}/Subscription/${s.subscriptionId}`, resource: subscriptionResource(s), search: { mode: 'match' } })) }
          : {}),
      });
    });

    // the Backport's $status: the subscription's status and how many notifications it numbered
    app.get<{ Params: { id: string } }>('/Subscription/:id/$status', { config: { roles: ['partner', 'admin'] } }, async (req, reply) => {
      const s = await visible(req, req.params.id);
      const status = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'subscription', valueReference: { reference: `${subscriptions.options.baseUrl}/Subscription/${s.subscriptionId}` } },
          { name: 'topic', valueCanonical: s.topic },
          { name: 'status', valueCode: s.status },
          { name: 'type', valueCode: 'query-status' },
          { name: 'events-since-subscription-start', valueString: String(s.eventsSinceStart) },
          ...(s.status === 'error' && s.error ? [{ name: 'error', valueCodeableConcept: { text: s.error.message } }] : []),
        ],
      };
      return sendResource(reply, 200, { resourceType: 'Bundle', type: 'searchset', entry: [{ fullUrl: `urn:uuid:${randomUUID()}`, resource: status, search: { mode: 'match' } }] });
    });

    app.delete<{ Params: { id: string } }>('/Subscription/:id', { config: { roles: ['partner', 'admin'] } }, async (req, reply) => {
      await visible(req, req.params.id);
      await subscriptions.end(req.params.id, own(req), eventContextOf(req, SOURCE, opts.now()));
      return sendResource(reply, 200, operationOutcome('information', 'informational', 'the subscription has ended: no more notifications'));
    });
  };
