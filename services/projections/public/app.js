/* global window */
// The dashboard of the network agreement: asks for a bearer token, reads the
// projections' JSON APIs with it and draws the sections; auditors open a
// case's timeline. Loaded as an ES module from /dashboard (CSP: script-src 'self').
import { ApiError, loadCase, loadDashboards } from './api.js';
import { clearToken, describeToken, getToken, setToken, takeTokenFromFragment } from './auth.js';
import { byId, fill, h } from './dom.js';
import { clock } from './format.js';
import { describeRole, renderCaseload, renderFunnel, renderNeeds, renderOverdue, renderOverview, renderPartners } from './sections.js';
import { renderCase } from './timeline.js';

// first of all: a token handed over in the fragment leaves the address bar
takeTokenFromFragment();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const AUDIT_ROLES = ['auditor', 'admin'];

const el = {
  access: byId('access'),
  tokenForm: byId('token-form'),
  token: byId('token'),
  notice: byId('notice'),
  session: byId('session'),
  sessionRole: byId('session-role'),
  sessionExpiry: byId('session-expiry'),
  refresh: byId('refresh'),
  logout: byId('logout'),
  status: byId('status'),
  dashboard: byId('dashboard'),
  overview: byId('overview-body'),
  funnel: byId('funnel-body'),
  partners: byId('partners-body'),
  overdue: byId('overdue-body'),
  needs: byId('needs-body'),
  needsPicker: byId('needs-access-point'),
  caseload: byId('caseload-body'),
  caseForm: byId('case-form'),
  personId: byId('person-id'),
  personIdError: byId('person-id-error'),
  caseStatus: byId('case-status'),
  caseBody: byId('case-body'),
};

/** The message for an API refusal, in words an operator can act on. */
function explain(err, what) {
  const role = describeRole(describeToken(getToken() ?? ''));
  if (!(err instanceof ApiError)) return `Errore inatteso nel mostrare ${what}: ${err?.message ?? err}.`;
  switch (err.status) {
    case 0:
      return `Impossibile leggere ${what}: ${err.message}.`;
    case 401:
      return 'Accesso non riuscito (401): il token manca, è scaduto o non è valido. Incollane uno nuovo.';
    case 403:
      return `Accesso negato (403): il ruolo di questo token (${role}) non può vedere ${what}.`;
    case 404:
      return `Non trovato (404): ${err.message}.`;
    case 429:
      return 'Troppe richieste (429): riprovare fra un minuto.';
    default:
      return `Il servizio ha risposto con un errore (${err.status}) leggendo ${what}: ${err.message}.`;
  }
}

function notify(message) {
  el.notice.hidden = !message;
  fill(el.notice, message ? h('p', {}, message) : null);
}

function showSignedOut(message = '') {
  el.dashboard.hidden = true;
  el.session.hidden = true;
  el.access.hidden = false;
  notify(message);
  if (message) el.token.focus();
}

function showSession(token) {
  const info = describeToken(token);
  el.sessionRole.textContent = describeRole(info);
  el.sessionExpiry.textContent = info?.expiresAt ? `valido fino al ${info.expiresAt.toLocaleString('it-IT', { timeZone: 'Europe/Rome' })}` : '';
  el.session.hidden = false;
}

let loading = false;

async function refresh({ focus = false } = {}) {
  const token = getToken();
  if (!token) return showSignedOut();
  if (loading) return;
  loading = true;
  el.refresh.disabled = true;
  el.status.textContent = 'Caricamento dei dati…';
  try {
    const data = await loadDashboards(token);
    const canAudit = AUDIT_ROLES.includes(describeToken(token)?.role ?? '');
    renderOverview(el.overview, data.overview);
    renderFunnel(el.funnel, data.funnel);
    renderPartners(el.partners, data.partners);
    renderOverdue(el.overdue, data.overdue, data.partners, { canAudit, onOpenCase: openCase });
    renderNeeds(el.needs, data.needs, el.needsPicker);
    renderCaseload(el.caseload, data.caseload);
    el.access.hidden = true;
    notify('');
    showSession(token);
    el.dashboard.hidden = false;
    el.status.textContent = `Dati aggiornati alle ${clock(new Date())}.`;
    if (focus) byId('overview-title').focus();
  } catch (err) {
    el.status.textContent = '';
    showSignedOut(explain(err, 'i cruscotti dell’Accordo di Rete (servono i ruoli operatore, équipe, revisore o amministratore)'));
  } finally {
    loading = false;
    el.refresh.disabled = false;
  }
}

async function openCase(personId) {
  el.personId.value = personId;
  byId('timeline').scrollIntoView({ block: 'start' });
  await showCase();
}

async function showCase() {
  const personId = el.personId.value.trim();
  if (!UUID.test(personId)) {
    el.personId.setAttribute('aria-invalid', 'true');
    el.personIdError.hidden = false;
    el.personId.focus();
    return;
  }
  el.personId.removeAttribute('aria-invalid');
  el.personIdError.hidden = true;
  const token = getToken();
  if (!token) return showSignedOut('Serve un token per consultare la cronologia.');
  el.caseStatus.textContent = 'Lettura della cronologia e verifica delle catene hash…';
  el.caseBody.replaceChildren();
  try {
    renderCase(el.caseBody, await loadCase(personId, token));
    el.caseStatus.textContent = 'Cronologia caricata.';
    byId('case-body').focus();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showSignedOut(explain(err, 'la cronologia'));
    el.caseStatus.textContent = '';
    const message =
      err instanceof ApiError && err.status === 403
        ? `Accesso negato (403): la cronologia dei casi è riservata a revisori e amministratori; il token attuale ha il ruolo ${describeRole(describeToken(token))}.`
        : err instanceof ApiError && err.status === 404
          ? 'Nessun caso con questo identificativo (404).'
          : explain(err, 'la cronologia del caso');
    fill(el.caseBody, h('p', { class: 'error', role: 'alert' }, message));
  }
}

el.tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const value = el.token.value;
  el.token.value = '';
  if (!setToken(value)) return showSignedOut('Incollare un token.');
  void refresh({ focus: true });
});

el.logout.addEventListener('click', () => {
  clearToken();
  el.caseBody.replaceChildren();
  el.caseStatus.textContent = '';
  el.personId.value = '';
  showSignedOut('Sessione chiusa: il token è stato dimenticato da questa scheda.');
});

el.refresh.addEventListener('click', () => void refresh());

el.caseForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void showCase();
});

// a token handed over in the fragment later (same page, new hash) is taken too
window.addEventListener('hashchange', () => {
  if (takeTokenFromFragment()) void refresh({ focus: true });
});

void refresh();
