/* global Element */
// The dashboard sections, each drawn from one API answer. Numbers carry a
// `data-kpi` attribute naming what they count (for tests and for people who
// inspect the page); nothing here needs colour to be understood.
import { fill, h, scroller, table } from './dom.js';
import { needChart } from './charts.js';
import { daysSince, hours, num, percent, shortId, when } from './format.js';
import { DECLINE_REASONS, DOMAINS, OUTCOMES, PRIORITIES, ROLES, SECTORS, TEAM_ROLES, label } from './labels.js';

const kpi = (name, value, extra = {}) => h('span', { 'data-kpi': name, ...extra }, num(value));

// ── Network overview ────────────────────────────────────────────────────────
export function renderOverview(root, o) {
  const card = (id, title, rows) =>
    h(
      'section',
      { class: 'card', 'aria-labelledby': `card-${id}` },
      h('h3', { id: `card-${id}` }, title),
      h(
        'dl',
        {},
        rows.map(([name, text, value, warn]) =>
          h('div', { class: warn && value > 0 ? 'row warn' : 'row' }, h('dt', {}, text), h('dd', {}, warn && value > 0 ? h('span', { class: 'icon', 'aria-hidden': 'true' }, '⚠ ') : null, kpi(name, value))),
        ),
      ),
    );
  fill(
    root,
    h(
      'div',
      { class: 'cards' },
      card('persons', 'Persone', [
        ['persons.registered', 'registrate (attive)', o.persons.registered],
        ['persons.withAssessmentConsent', 'con consenso alla valutazione', o.persons.withAssessmentConsent],
        ['persons.withReferralSharingConsent', 'con consenso alla condivisione', o.persons.withReferralSharingConsent],
        ['persons.erased', 'con dati personali cancellati', o.persons.erased],
      ]),
      card('assessments', 'Valutazioni multidimensionali', [
        ['assessments.open', 'in corso', o.assessments.open],
        ['assessments.completed', 'completate', o.assessments.completed],
        ['assessments.cancelled', 'annullate', o.assessments.cancelled],
      ]),
      card('referrals', 'Invii ai partner', [
        ['referrals.total', 'totali', o.referrals.total],
        ['referrals.open', 'aperti', o.referrals.open],
        ['referrals.overdue', 'senza risposta oltre il termine', o.referrals.overdue, true],
      ]),
      card('partners', 'Rete dei partner', [
        ['partners.total', 'partner registrati', o.partners.total],
        ['partners.inAgreement', 'aderenti all’Accordo di Rete', o.partners.inAgreement],
        ['partners.services', 'servizi offerti', o.partners.services],
      ]),
    ),
  );
}

// ── Referral funnel ─────────────────────────────────────────────────────────
export function renderFunnel(root, f) {
  const stages = [
    ['referred', 'Inviati ai partner', f.referred],
    ['accepted', 'Accettati dal partner', f.accepted],
    ['started', 'Servizio avviato', f.started],
    ['completed', 'Servizio concluso', f.completed],
  ];
  const exits = [
    ['declined', 'Rifiutati dal partner', f.declined],
    ['cancelled', 'Annullati', f.cancelled],
    ['open', 'Ancora aperti (in attesa o in corso)', f.open],
  ];
  const bar = (value) => {
    const el = h('span', { class: 'bar' });
    el.style.width = `${f.referred > 0 ? Math.max((value / f.referred) * 100, value > 0 ? 1 : 0) : 0}%`;
    return h('span', { class: 'track', 'aria-hidden': 'true' }, el);
  };
  fill(
    root,
    h(
      'ol',
      { class: 'funnel', 'aria-label': 'Fasi del percorso degli invii' },
      stages.map(([key, text, value], i) =>
        h(
          'li',
          { 'data-stage': key },
          h('span', { class: 'step', 'aria-hidden': 'true' }, String(i + 1)),
          h('span', { class: 'stage' }, text),
          bar(value),
          h('span', { class: 'value' }, kpi(`funnel.${key}`, value)),
          h('span', { class: 'share' }, i === 0 ? 'base' : `${percent(value, f.referred)} degli inviati`),
        ),
      ),
    ),
    h(
      'ul',
      { class: 'exits', 'aria-label': 'Uscite dal percorso e invii aperti' },
      exits.map(([key, text, value]) => h('li', { 'data-stage': key }, h('span', { class: 'stage' }, `${text}: `), kpi(`funnel.${key}`, value), h('span', { class: 'share' }, ` (${percent(value, f.referred)})`))),
    ),
  );
}

// ── Partners and the agreement's KPIs ───────────────────────────────────────
function breakdown(counts, names) {
  const entries = Object.entries(counts ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (entries.length === 0) return null;
  return h('ul', { class: 'breakdown' }, entries.map(([key, n]) => h('li', { 'data-key': key }, `${label(names, key)}: `, h('span', { class: 'n' }, num(n)))));
}

export function renderPartners(root, partners) {
  if (partners.length === 0) return fill(root, h('p', { class: 'empty' }, 'Nessun partner registrato.'));
  const count = (col, value, extra = null) => h('td', { class: 'num', 'data-col': col }, h('span', { class: 'count' }, num(value)), extra);
  const rows = partners.map((p) =>
    h(
      'tr',
      { 'data-partner': p.partnerId },
      h('th', { scope: 'row' }, h('span', { class: 'name' }, p.name ?? p.partnerId), h('span', { class: 'sub' }, `${p.partnerId}${p.sector ? ` · ${label(SECTORS, p.sector)}` : ''}`)),
      count('received', p.received),
      count('accepted', p.accepted),
      count('declined', p.declined, breakdown(p.declinedByReason, DECLINE_REASONS)),
      count('started', p.started),
      count('completed', p.completed, breakdown(p.completedByOutcome, OUTCOMES)),
      count('cancelled', p.cancelled),
      h('td', { class: p.overdue > 0 ? 'num warn' : 'num', 'data-col': 'overdue' }, p.overdue > 0 ? h('span', { class: 'icon', 'aria-hidden': 'true' }, '⚠ ') : null, h('span', { class: 'count' }, num(p.overdue))),
      h('td', { class: 'num', 'data-col': 'medianHoursToAnswer' }, hours(p.medianHoursToAnswer)),
      h('td', { class: 'num', 'data-col': 'medianHoursToStart' }, hours(p.medianHoursToStart)),
    ),
  );
  const head = ['Partner', 'Ricevuti', 'Accettati', 'Rifiutati (per motivo)', 'Avviati', 'Conclusi (per esito)', 'Annullati', 'In ritardo', 'Risposta (mediana)', 'Avvio (mediana)'];
  fill(
    root,
    scroller(
      'Tabella dei partner, scorrevole',
      h(
        'table',
        { class: 'data partners' },
        h('caption', {}, 'Indicatori dell’Accordo di Rete per partner. «Risposta» e «Avvio»: tempo mediano dall’invio alla prima risposta (accettazione o rifiuto) e all’avvio del servizio.'),
        h('thead', {}, h('tr', {}, head.map((c, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null }, c)))),
        h('tbody', {}, rows),
      ),
    ),
  );
}

// ── Overdue referrals ───────────────────────────────────────────────────────
export function renderOverdue(root, referrals, partners, { onOpenCase, canAudit }) {
  if (referrals.length === 0) {
    return fill(root, h('p', { class: 'empty ok' }, h('span', { 'aria-hidden': 'true' }, '✔ '), 'Nessun invio attende una risposta oltre il termine.'));
  }
  const names = new Map(partners.map((p) => [p.partnerId, p.name ?? p.partnerId]));
  const rows = referrals.map((r) => [
    h('code', { title: r.referralId }, shortId(r.referralId)),
    names.get(r.partnerId) ?? r.partnerId,
    r.serviceId,
    label(DOMAINS, r.domain),
    label(PRIORITIES, r.priority),
    when(r.referredAt),
    when(r.respondBy),
    h('span', { 'data-col': 'late' }, `${num(daysSince(r.respondBy))} g`),
    canAudit
      ? h('button', { type: 'button', class: 'link', 'data-person': r.personId, 'aria-label': `Apri la cronologia del caso ${r.personId}` }, `Cronologia ${shortId(r.personId)}`)
      : h('code', { title: r.personId }, shortId(r.personId)),
  ]);
  const t = table({
    caption: referrals.length === 1 ? '1 invio senza risposta oltre il termine dell’accordo' : `${num(referrals.length)} invii senza risposta oltre il termine dell’accordo, dal più vecchio`,
    head: ['Invio', 'Partner', 'Servizio', 'Ambito', 'Priorità', 'Inviato il', 'Risposta entro', 'Ritardo', 'Caso'],
    rows,
    rowAttrs: (i) => ({ 'data-referral': referrals[i].referralId }),
    numeric: [7],
  });
  t.addEventListener('click', (e) => {
    const button = e.target instanceof Element ? e.target.closest('button[data-person]') : null;
    if (button) onOpenCase(button.getAttribute('data-person'));
  });
  fill(root, scroller('Invii in ritardo, scorrevole', t));
}

// ── Need profiles ───────────────────────────────────────────────────────────
const DOMAIN_ORDER = Object.keys(DOMAINS);

function needRows(list) {
  const byDomain = new Map(list.map((r) => [r.domain, r]));
  const known = DOMAIN_ORDER.map((d) => byDomain.get(d) ?? { domain: d, assessments: 0, averageLevel: 0, levels: { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0 } });
  return [...known, ...list.filter((r) => !DOMAIN_ORDER.includes(r.domain))];
}

export function renderNeeds(root, needs, picker) {
  const ALL = '*';
  const points = [...new Set(needs.byAccessPoint.map((r) => r.accessPoint ?? ''))].sort();
  const current = points.includes(picker.value) ? picker.value : ALL;
  fill(
    picker,
    h('option', { value: ALL }, 'Tutti i punti di accesso'),
    points.map((p) => h('option', { value: p }, p === '' ? 'Punto di accesso non ancora noto' : p)),
  );
  picker.value = current;
  const draw = () => {
    const at = picker.value;
    const list = at === ALL ? needs.byDomain : needs.byAccessPoint.filter((r) => (r.accessPoint ?? '') === at);
    const rows = needRows(list);
    const total = Math.max(0, ...rows.map((r) => r.assessments));
    const where = at === ALL ? 'in tutta la rete' : `nel punto di accesso ${at || 'non ancora noto'}`;
    if (total === 0) return fill(root, h('p', { class: 'empty' }, `Nessuna valutazione completata ${where}.`));
    const top = [...rows].sort((a, b) => b.averageLevel - a.averageLevel)[0];
    const desc = `Per ciascuno dei ${rows.length} domini, una barra divide le ${num(total)} valutazioni completate ${where} secondo il livello di bisogno, da 0 (nessuno) a 4 (grave); il numero in ogni segmento è il livello. Il bisogno medio più alto è nel dominio ${label(DOMAINS, top.domain)} (${top.averageLevel.toFixed(1).replace('.', ',')}).`;
    fill(
      root,
      h('div', { class: 'scroller chart-box', role: 'region', 'aria-label': 'Grafico dei profili di bisogno, scorrevole', tabindex: '0' }, needChart(rows, { title: `Profili di bisogno per dominio ${where}`, desc, total })),
      h(
        'details',
        { class: 'alt' },
        h('summary', {}, 'Gli stessi dati in tabella'),
        table({
          caption: `Valutazioni completate ${where} per dominio e livello di bisogno`,
          head: ['Dominio', 'Livello 0', 'Livello 1', 'Livello 2', 'Livello 3', 'Livello 4', 'Valutazioni', 'Livello medio'],
          rows: rows.map((r) => [label(DOMAINS, r.domain), ...[0, 1, 2, 3, 4].map((l) => num(r.levels[l] ?? 0)), num(r.assessments), r.averageLevel.toFixed(1).replace('.', ',')]),
          rowAttrs: (i) => ({ 'data-domain': rows[i].domain }),
          numeric: [1, 2, 3, 4, 5, 6, 7],
        }),
      ),
    );
  };
  picker.onchange = draw;
  draw();
}

// ── Caseload ────────────────────────────────────────────────────────────────
export function renderCaseload(root, c) {
  const operators = c.operators.length
    ? table({
        caption: 'Persone registrate per operatore del punto di accesso',
        head: ['Operatore', 'Persone registrate', 'di cui attive', 'di cui con dati cancellati'],
        rows: c.operators.map((o) => [h('code', {}, o.operator), num(o.persons), num(o.registered), num(o.erased)]),
        rowAttrs: (i) => ({ 'data-operator': c.operators[i].operator }),
        numeric: [1, 2, 3],
      })
    : h('p', { class: 'empty' }, 'Nessuna persona registrata.');
  const team = c.teamMembers.length
    ? table({
        caption: 'Valutazioni per componente dell’équipe',
        head: ['Componente', 'Ruolo', 'Valutazioni', 'in corso', 'completate', 'annullate'],
        rows: c.teamMembers.map((m) => [h('code', {}, m.memberId), label(TEAM_ROLES, m.role), num(m.assessments), num(m.open), num(m.completed), num(m.cancelled)]),
        rowAttrs: (i) => ({ 'data-member': c.teamMembers[i].memberId, 'data-role': c.teamMembers[i].role }),
        numeric: [2, 3, 4, 5],
        wide: [1],
      })
    : h('p', { class: 'empty' }, 'Nessuna valutazione avviata.');
  fill(root, h('div', { class: 'pair' }, scroller('Carico degli operatori, scorrevole', operators), scroller('Carico dell’équipe, scorrevole', team)));
}

/** "operatore del punto di accesso" for a role code, with the team role or partner when there is one. */
export function describeRole(info) {
  if (!info?.role) return 'ruolo non indicato';
  const extra = info.teamRole ? ` – ${label(TEAM_ROLES, info.teamRole)}` : info.partnerId ? ` – ${info.partnerId}` : '';
  return `${label(ROLES, info.role)}${extra}`;
}

