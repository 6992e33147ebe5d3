// The auditor's case timeline: every event of every stream of a case, in the
// order they were recorded, with who did it (role), the stream and its
// position, and whether the hash chains of the case still hold. Event
// payloads are not shown: only the few codes listed below, which are never
// personal data (personal data stays ciphertext in the store anyway).
import { fill, h } from './dom.js';
import { num, whenPrecise } from './format.js';
import {
  CANCEL_REASONS,
  CONSENT_SCOPES,
  DECLINE_REASONS,
  DOMAINS,
  ERASURE_REASONS,
  EVENT_TYPES,
  LEGAL_BASES,
  OUTCOMES,
  PRIORITIES,
  READ_PURPOSES,
  ROLES,
  STREAM_CATEGORIES,
  TEAM_ROLES,
  VERIFY_REASONS,
  label,
} from './labels.js';

/** The payload members shown per event type, with how to name their values. */
const SHOWN = {
  PersonRegistered: { accessPoint: ['punto di accesso'] },
  ConsentGiven: { scope: ['ambito', CONSENT_SCOPES], legalBasis: ['base giuridica', LEGAL_BASES] },
  ConsentWithdrawn: { scope: ['ambito', CONSENT_SCOPES] },
  PersonalDataErased: { reason: ['motivo', ERASURE_REASONS] },
  DomainEvaluated: { domain: ['dominio', DOMAINS], needLevel: ['livello di bisogno'] },
  AssessmentCompleted: { priorityDomains: ['domini prioritari', DOMAINS] },
  AssessmentCancelled: { reason: ['motivo', CANCEL_REASONS] },
  ReferredToPartner: { partnerId: ['partner'], serviceId: ['servizio'], domain: ['ambito', DOMAINS], priority: ['priorità', PRIORITIES] },
  ReferralAccepted: { expectedStart: ['avvio previsto'] },
  ReferralDeclined: { reason: ['motivo', DECLINE_REASONS] },
  ServiceCompleted: { outcome: ['esito', OUTCOMES] },
  ReferralCancelled: { reason: ['motivo', CANCEL_REASONS] },
  CaseHistoryRead: { purpose: ['finalità', READ_PURPOSES], readBy: ['letto da'] },
};

function details(e) {
  const shown = SHOWN[e.type];
  if (!shown || e.data === null || typeof e.data !== 'object') return [];
  const out = [];
  for (const [key, [name, names]] of Object.entries(shown)) {
    const v = e.data[key];
    const values = Array.isArray(v) ? v : [v];
    // codes and numbers only: an object here would be ciphertext
    if (v == null || !values.every((x) => typeof x === 'string' || typeof x === 'number')) continue;
    out.push([name, values.map((x) => (names ? label(names, x) : String(x))).join(', ')]);
  }
  return out;
}

/** One term of an event's description list. */
const meta = (term, attrs, ...value) => h('div', {}, h('dt', {}, term), h('dd', attrs, ...value));

/** `referral-0b1cff3a…`: the category and the start of the id (the whole id is the tooltip). */
const shortStream = (streamId) => {
  const dash = streamId.indexOf('-');
  return dash > 0 && streamId.length > dash + 9 ? `${streamId.slice(0, dash + 9)}…` : streamId;
};

const category = (streamId) => streamId.slice(0, Math.max(streamId.indexOf('-'), 0)) || streamId;

function actorText(actor) {
  if (!actor) return '—';
  if (actor.teamRole) return `${label(TEAM_ROLES, actor.teamRole)} (équipe)`;
  if (actor.partnerId) return `partner ${actor.partnerId}`;
  return label(ROLES, actor.role);
}

function badge(v) {
  if (v.ok) {
    return h(
      'p',
      { class: 'badge ok', 'data-verification': 'ok' },
      h('span', { class: 'icon', 'aria-hidden': 'true' }, '✔'),
      h('span', {}, h('strong', {}, 'Catena hash integra. '), `Ricalcolati ${num(v.events)} eventi in ${num(v.streams)} flussi: nessuna alterazione.`),
    );
  }
  return h(
    'div',
    { class: 'badge broken', 'data-verification': 'broken' },
    h('span', { class: 'icon', 'aria-hidden': 'true' }, '✖'),
    h(
      'div',
      {},
      h('strong', {}, 'Catena hash interrotta: '),
      `${num(v.broken.length)} ${v.broken.length === 1 ? 'flusso alterato' : 'flussi alterati'}.`,
      h(
        'ul',
        {},
        v.broken.map((b) => h('li', { 'data-broken-stream': b.streamId }, h('code', {}, b.streamId), ` dalla posizione ${num(b.brokenAt)}: ${label(VERIFY_REASONS, b.reason)}`)),
      ),
    ),
  );
}

export function renderCase(root, { history, verification }) {
  const brokenAt = new Map(verification.broken.map((b) => [b.streamId, b.brokenAt]));
  const events = history.events;
  const first = events[0];
  const last = events[events.length - 1];
  const items = events.map((e) => {
    const cat = category(e.subject);
    const bad = brokenAt.has(e.subject) && e.streamPosition >= brokenAt.get(e.subject);
    const extra = details(e);
    return h(
      'li',
      { class: `event cat-${cat}${bad ? ' bad' : ''}`, 'data-type': e.type, 'data-stream': e.subject, 'data-position': String(e.globalPosition) },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h(
        'div',
        { class: 'event-body' },
        h(
          'div',
          { class: 'event-head' },
          h('time', { datetime: e.time }, whenPrecise(e.time)),
          h('strong', { class: 'event-type' }, label(EVENT_TYPES, e.type)),
          h('code', { class: 'type-code' }, e.type),
          extra.length ? h('dl', { class: 'event-detail' }, extra.map(([k, v]) => meta(k, {}, v))) : null,
        ),
        h(
          'dl',
          { class: 'event-meta' },
          meta('Chi', { 'data-field': 'actor' }, actorText(e.actor)),
          meta('Flusso', { 'data-field': 'stream' }, `${label(STREAM_CATEGORIES, cat)} `, h('code', { title: e.subject }, shortStream(e.subject)), ` n. ${num(e.streamPosition)}`),
          meta('Registro', {}, `pos. ${num(e.globalPosition)}`),
          meta('Hash', {}, h('code', { title: e.hash }, `${String(e.hash).slice(0, 10)}…`)),
        ),
        bad ? h('p', { class: 'bad-note' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), 'Questo evento è nella parte alterata del flusso.') : null,
      ),
    );
  });
  fill(
    root,
    h(
      'div',
      { class: 'case-head' },
      badge(verification),
      h(
        'p',
        { class: 'case-summary' },
        `Caso `,
        h('code', {}, history.personId),
        `: ${num(events.length)} eventi in ${num(history.streams.length)} flussi`,
        first ? `, dal ${whenPrecise(first.time)} al ${whenPrecise(last.time)}.` : '.',
      ),
      h(
        'p',
        { class: 'read-note' },
        'Questa consultazione è stata registrata nel registro del caso (evento ',
        h('code', { 'data-read-event': history.read.eventId }, history.read.eventId.slice(0, 8)),
        `, posizione ${num(history.read.position)}).`,
      ),
    ),
    h('ol', { class: 'timeline', 'aria-label': `Cronologia del caso, ${num(events.length)} eventi dal più vecchio` }, items),
  );
}
