/// <reference lib="dom" />
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, REPO_ROOT } from '@onestop/testkit';
import { CHROMIUM, newContext, openBrowser, openConsolePlatform, seriousViolations, signIn, type AxeViolation } from './console-browser.js';

// The work console in Debian's Chromium: the whole Pistoia journey by clicks,
// across roles, each in its own browser context (its own session); axe-core on
// every page; a registration by keyboard alone; a double-clicked submit; the
// numbers shown checked against the API; screenshots of every page for the README.

// the README's screenshots are rewritten only when asked (ONESTOP_SCREENSHOTS=docs): a plain run keeps them in a temporary directory
const SHOTS = process.env.ONESTOP_SCREENSHOTS === 'docs' ? join(REPO_ROOT, 'docs', 'console') : mkdtempSync(join(tmpdir(), 'onestop-console-shots-'));

let p: Awaited<ReturnType<typeof openConsolePlatform>>;
let browser: Browser;
let closeBrowser: () => Promise<void>;
const violations: Record<string, AxeViolation[]> = {};

/** axe-core on the page as shown, and its screenshot into docs/console. */
async function visit(page: Page, name: string): Promise<void> {
  violations[name] = await seriousViolations(page);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The referral of a person to a partner, once the API's view has it. */
async function referralTo(personId: string, partnerId: string): Promise<{ referralId: string }> {
  let found: { referralId: string } | undefined;
  await eventually(async () => {
    found = (await p.api<Array<{ referralId: string; partnerId: string }>>('socialWorker', 'GET', `/persons/${personId}/referrals`)).find((r) => r.partnerId === partnerId);
    expect(found).toBeDefined();
  });
  return found!;
}

async function as(user: string): Promise<Page> {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await signIn(page, p.address, user);
  return page;
}

describe('the work console in Chromium', () => {
  beforeAll(async () => {
    // as the dashboard's browser test: CI installs Debian's Chromium (.ci/run), and a missing browser fails rather than skips
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH; the console test never downloads a browser`);
    mkdirSync(SHOTS, { recursive: true });
    p = await openConsolePlatform('console');
    ({ browser, close: closeBrowser } = await openBrowser());
  }, 120_000);

  afterAll(async () => {
    await closeBrowser?.();
    await p?.close();
  });

  it('signs in a demo user of any role, educator and tutor included, and never in production', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${p.address}/app`);
    const options = await page.locator('#demo-user option').allTextContents();
    expect(options.some((o) => /Educatore/.test(o))).toBe(true);
    expect(options.some((o) => /Tutor/.test(o))).toBe(true);
    await visit(page, '00-sign-in');
    await page.selectOption('#demo-user', 'educator');
    await page.getByRole('button', { name: 'Accedi' }).click();
    await expect.poll(() => page.getByTestId('who').textContent()).toMatch(/Educatore/);
    // English is the second language, one click away, kept for the next visit
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    await page.getByRole('link', { name: 'My caseload' }).waitFor();
    await visit(page, '00-team-caseload-en');
    await ctx.close();
  });

  it('walks the Pistoia journey by clicks across roles; the auditor sees a past instant and the chain verifies', async () => {
    const family = `Touré ${Date.now().toString(36)}`;

    // 1. the operator registers a migrant without a fiscal code and records consents
    const op = await as('operator');
    await visit(op, '01-operator-search');
    await op.getByRole('link', { name: 'Nuova registrazione' }).first().click();
    await op.getByLabel('Nome *', { exact: true }).fill('Amadou');
    await op.getByLabel('Cognome *').fill(family);
    await op.getByLabel('Data di nascita *').fill('1996-04-11');
    await op.getByLabel('Telefono').fill('+39 333 1234567');
    await visit(op, '02-operator-register');
    await op.getByRole('button', { name: 'Registra' }).click();
    await op.getByRole('heading', { name: 'Persona registrata' }).waitFor();
    await op.getByTestId('open-registered').click();
    await op.getByRole('button', { name: 'Registra il consenso' }).click();
    await op.getByTestId('consents').getByText('Valutazione: dato').waitFor();
    await op.getByLabel('Consenso', { exact: true }).selectOption('referral_sharing');
    await op.getByRole('button', { name: 'Registra il consenso' }).click();
    await op.getByTestId('consents').getByText('Condivisione con i partner per gli invii: dato').waitFor();
    await visit(op, '03-operator-person');
    const personId = new URL(op.url()).hash.split('/')[2]!;

    // 2. the team assesses (housing 4, employment 3) and refers housing
    const team = await as('socialWorker');
    await team.locator('label[for=show-all]').click();
    await team.getByRole('link', { name: `Amadou ${family}` }).click();
    await team.getByLabel('Collega dell’équipe (identificativo)').fill('operatore-cpi-1');
    await team.getByRole('button', { name: 'Avvia la valutazione' }).click();
    await team.locator('form[data-domain=housing]').waitFor();
    await visit(team, '04-team-assessment');
    const levels: Record<string, number> = { economic: 2, employment: 3, education: 0, housing: 4, social_network: 1, health_care: 0, training: 1 };
    for (const [domain, level] of Object.entries(levels)) {
      const form = team.locator(`form[data-domain=${domain}]`);
      await form.locator(`label[for=level-${domain}-${level}]`).click();
      if (domain === 'housing') await form.getByLabel('Note').fill('Dorme in un dormitorio da tre mesi');
      await form.getByRole('button').click();
      await form.getByText(`valutata: ${level}`).waitFor();
    }
    const goals = team.locator('#completion').locator('..');
    await team.getByLabel('Descrizione dell’obiettivo').nth(0).fill('Iscrizione al Centro per l’impiego e orientamento');
    await team.getByLabel('Entro il').nth(0).fill('2027-03-31');
    await team.getByLabel('Descrizione dell’obiettivo').nth(1).fill('Un alloggio temporaneo stabile');
    await team.getByLabel('Entro il').nth(1).fill('2027-01-31');
    expect(await goals.count()).toBeGreaterThan(0);
    await team.getByRole('button', { name: 'Chiudi la valutazione' }).click();
    await team.getByTestId('need-profile').waitFor();
    await team.getByLabel('Area', { exact: true }).selectOption('housing');
    await team.locator('section[aria-labelledby=refer] label', { hasText: 'Emergenza abitativa' }).click();
    await team.getByLabel('Motivo').fill('Senza dimora, priorità abitativa');
    await visit(team, '05-team-refer');
    await team.getByRole('button', { name: 'Invia', exact: true }).click();
    await team.getByText('Invio registrato').waitFor();
    const first = await referralTo(personId, 'servizi-sociali');

    // 3. the housing partner declines for no capacity
    const housing = await as('partner:servizi-sociali');
    const card = housing.locator(`[data-referral="${first.referralId}"]`);
    await card.waitFor();
    await visit(housing, '06-partner-inbox');
    await card.getByRole('button', { name: 'Rifiuta' }).click();
    await card.getByLabel('Motivo del rifiuto').selectOption('no_capacity');
    await card.getByRole('button', { name: 'Conferma il rifiuto' }).click();
    await card.waitFor({ state: 'detached' });
    const declinedAt = Date.now();

    // 4. the team re-refers; the second partner, its inbox already open, sees it arrive without a reload
    // (server-sent events), then accepts, starts and completes
    const coeso = await as('partner:consorzio-coeso');
    await coeso.getByTestId('places').waitFor();
    await team.getByTestId('need-profile').waitFor();
    await team.getByLabel('Area', { exact: true }).selectOption('housing');
    await team.locator('section[aria-labelledby=refer] label', { hasText: 'Accoglienza abitativa temporanea' }).click();
    await team.getByLabel('Motivo').fill('Secondo invio: posti esauriti al primo partner');
    await eventually(async () => expect(Date.now()).toBeGreaterThan(declinedAt + 1100));
    await team.getByRole('button', { name: 'Invia', exact: true }).click();
    await team.getByText('Invio registrato').waitFor();
    const second = await referralTo(personId, 'consorzio-coeso');
    const c2 = coeso.locator(`[data-referral="${second.referralId}"]`);
    await c2.getByRole('button', { name: 'Accetta' }).click();
    await c2.getByLabel('Inizio previsto').fill('2027-01-10');
    await c2.getByRole('button', { name: 'Conferma l’accettazione' }).click();
    await c2.waitFor({ state: 'detached' });
    await coeso.getByRole('link', { name: 'Accettate' }).click();
    const reads = await p.countEvents('CaseHistoryRead', 'contact_details');
    await coeso.locator(`[data-referral="${second.referralId}"]`).getByRole('button', { name: /Mostra i recapiti/ }).click();
    await coeso.getByTestId('contacts').getByText(`Amadou ${family}`).waitFor();
    expect(await p.countEvents('CaseHistoryRead', 'contact_details')).toBe(reads + 1);
    await visit(coeso, '07-partner-accepted');
    await coeso.locator(`[data-referral="${second.referralId}"]`).getByRole('button', { name: 'Avvia il servizio' }).click();
    await coeso.locator(`[data-referral="${second.referralId}"]`).waitFor({ state: 'detached' });
    await coeso.getByRole('link', { name: 'In corso' }).click();
    const c3 = coeso.locator(`[data-referral="${second.referralId}"]`);
    await c3.getByRole('button', { name: 'Concludi il servizio' }).click();
    await c3.getByLabel('Esito').selectOption('achieved');
    await c3.getByRole('button', { name: 'Conferma la conclusione' }).click();
    await c3.waitFor({ state: 'detached' });
    await eventually(async () => expect((await p.api<{ status: string }>('socialWorker', 'GET', `/referrals/${second.referralId}`)).status).toBe('completed'));

    // the team's page shows both answers, pushed by the server-sent events
    await team.getByRole('link', { name: 'Torna alla scheda della persona' }).click();
    await team.locator('[data-testid=referrals] tr[data-status=rejected]').waitFor();
    await team.locator('[data-testid=referrals] tr[data-status=completed]').waitFor();
    await visit(team, '08-team-person');

    // 5. the auditor: the state between the decline and the second referral, and the chain
    const auditor = await as('auditor');
    await visit(auditor, '09-auditor-cases');
    await auditor.getByRole('link', { name: personId.slice(0, 8) }).click();
    const timeline = auditor.getByTestId('timeline');
    await timeline.waitFor();
    const declined = await timeline.locator('li', { hasText: 'Invio rifiutato' }).getAttribute('data-time');
    const rereferred = await timeline.locator('li', { hasText: 'Inviato a un partner' }).nth(1).getAttribute('data-time');
    const between = new Date((Date.parse(declined!) + Date.parse(rereferred!)) / 2);
    expect(between.getTime()).toBeGreaterThan(Date.parse(declined!));
    await auditor.getByLabel('Data e ora').fill(between.toISOString().slice(0, 23));
    await auditor.getByRole('button', { name: 'Mostra lo stato' }).click();
    const asOf = auditor.getByTestId('as-of');
    await asOf.waitFor();
    expect(await asOf.locator('li[data-status]').count()).toBe(1);
    expect(await asOf.locator('li[data-status]').getAttribute('data-status')).toBe('rejected');
    await auditor.getByRole('button', { name: 'Verifica le catene di hash del caso' }).click();
    await expect.poll(() => auditor.getByTestId('chain').textContent()).toMatch(/Catene integre/);
    await visit(auditor, '10-auditor-case');
    await auditor.getByRole('link', { name: 'Audit' }).first().click();
    await auditor.getByRole('button', { name: 'Scarica e verifica il digest firmato' }).click();
    await expect.poll(() => auditor.getByTestId('digest').textContent(), { timeout: 15_000 }).toMatch(/Firma verificata/);
    await auditor.getByRole('button', { name: 'Verifica il registro' }).click();
    await expect.poll(() => auditor.getByTestId('store-chain').textContent(), { timeout: 15_000 }).toMatch(/Catene integre/);
  }, 240_000);

  it('shows the network manager the numbers the API gives, with partner names', async () => {
    const nm = await as('networkManager');
    await nm.getByRole('link', { name: 'Cruscotto' }).click();
    await nm.getByTestId('tiles').waitFor();
    await eventually(async () => {
      const api = await p.api<{ persons: { registered: number }; referrals: { open: number; overdue: number }; assessments: { completed: number } }>('auditor', 'GET', '/api/overview');
      const shown = await nm.locator('[data-testid=tiles] [data-value]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
      expect(shown).toEqual(expect.arrayContaining([api.persons.registered, api.referrals.open, api.referrals.overdue, api.assessments.completed]));
      expect(shown[0]).toBe(api.persons.registered);
      expect(shown[4]).toBe(api.referrals.overdue);
    });
    const funnel = await p.api<Record<string, number>>('auditor', 'GET', '/api/funnel');
    expect(Number(await nm.locator('[data-testid=funnel] td[data-key=referred]').textContent())).toBe(funnel['referred']);
    await nm.getByTestId('partner-stats').getByText('Consorzio Co&So – Terzo Settore').waitFor();
    // the taking-charge figures, in Italian, as /api/casework gives them
    await nm.getByRole('heading', { name: /^Scadenze di questa settimana/ }).waitFor();
    await nm.getByRole('heading', { name: 'Primi colloqui entro 60 e 120 giorni dall’attivazione' }).waitFor();
    const casework = await p.api<{ firstMeetings: unknown[] }>('auditor', 'GET', '/api/casework');
    await eventually(async () => expect(await nm.locator('[data-testid=first-meetings] tbody tr').count()).toBe(casework.firstMeetings.length));
    await visit(nm, '11-manager-dashboard');
  }, 60_000);

  it('lets the administrator change capacity and reach erasure and export only through a confirmation step', async () => {
    const admin = await as('admin');
    await admin.getByRole('heading', { name: 'Sportello di consulenza legale' }).waitFor();
    await admin.getByLabel('Posti — Consulenza legale').fill('14');
    const row = admin.locator('tr', { hasText: 'Consulenza legale' });
    await row.getByRole('button', { name: 'Salva' }).click();
    await eventually(async () => {
      const partner = await p.api<{ services: Array<{ serviceId: string; capacity: number }> }>('admin', 'GET', '/partners/sportello-legale');
      expect(partner.services[0]!.capacity).toBe(14);
    });
    await visit(admin, '12-admin-partners');
    await admin.getByRole('link', { name: 'Persone' }).click();
    await admin.getByRole('link', { name: 'Giulia Rossi' }).first().click();
    const exportsBefore = await p.countEvents('CaseHistoryRead', 'subject_access');
    await admin.getByRole('button', { name: 'Prepara l’esportazione' }).click();
    expect(await p.countEvents('CaseHistoryRead', 'subject_access')).toBe(exportsBefore);
    await admin.getByRole('button', { name: 'Sì, esporta' }).click();
    await admin.getByRole('link', { name: 'Scarica l’esportazione (JSON)' }).waitFor();
    expect(await p.countEvents('CaseHistoryRead', 'subject_access')).toBe(exportsBefore + 1);
    const erasedBefore = await p.countEvents('PersonalDataErased');
    await admin.getByRole('button', { name: 'Cancella i dati personali' }).click();
    expect(await p.countEvents('PersonalDataErased')).toBe(erasedBefore);
    await visit(admin, '13-admin-erasure');
    await admin.getByRole('button', { name: 'Sì, cancella definitivamente' }).click();
    await admin.getByText('Dati personali cancellati.').waitFor();
    expect(await p.countEvents('PersonalDataErased')).toBe(erasedBefore + 1);
  }, 60_000);

  it('lets the team follow every referral and cancel one, the list following by itself', async () => {
    const team = await as('socialWorker');
    await team.getByRole('link', { name: 'Invii' }).click();
    const row = team.locator('[data-testid=referrals] tr', { hasText: 'Luca Ferrari' });
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('requested');
    await visit(team, '14-team-referrals');
    await row.getByRole('button', { name: 'Annulla l’invio' }).click();
    await row.getByLabel('Motivo').selectOption('person_request');
    await row.getByRole('button', { name: 'Conferma' }).click();
    // no reload, no write position handed over: the server-sent events bring the change
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 15_000 }).toBe('cancelled');
  }, 60_000);

  it('lets the operator find a person by name among others (server-side, every shown person a recorded read), update contact details, give and withdraw a consent', async () => {
    // namesakes of the demo's Marco Bianchi (1979-07-02), registered through the API
    for (const [givenName, familyName, birthDate] of [['Marta', 'Bianchini', '1979-07-02'], ['Marco', 'Biancò', '1988-01-01']]) {
      const res = await p.app.inject({
        method: 'POST',
        url: '/persons',
        headers: { authorization: `Bearer ${p.tokens['operator']}` },
        payload: { givenName, familyName, birthDate, accessPoint: 'quarrata', municipality: 'Quarrata' },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const op = await as('operator');
    const matches = op.getByTestId('matches');
    const names = () => matches.locator('tbody a').allTextContents();
    // the search index is a view fed by the bus: the namesakes are found once it has them
    await eventually(async () => {
      await op.getByLabel('Cognome', { exact: true }).fill('BIAN');
      await op.getByRole('button', { name: 'Cerca' }).nth(1).click();
      await matches.waitFor();
      expect((await names()).sort()).toEqual(['Marco Bianchi', 'Marco Biancò', 'Marta Bianchini']);
    });
    await visit(op, '16-operator-search-results');
    // case and accents do not matter; every word narrows
    await op.getByLabel('Nome', { exact: true }).fill('marc');
    await op.getByRole('button', { name: 'Cerca' }).nth(1).click();
    await expect.poll(async () => (await names()).sort()).toEqual(['Marco Bianchi', 'Marco Biancò']);
    const searchReads = await p.countEvents('CaseHistoryRead', 'search');
    await op.getByLabel('Data di nascita', { exact: true }).fill('1979-07-02');
    await op.getByRole('button', { name: 'Cerca' }).nth(1).click();
    await expect.poll(names).toEqual(['Marco Bianchi']);
    // the one person shown is one recorded read
    expect(await p.countEvents('CaseHistoryRead', 'search')).toBe(searchReads + 1);
    // nothing of the search is in the address
    expect(op.url()).not.toMatch(/bian|marc|1979/i);
    await matches.getByRole('link', { name: 'Marco Bianchi' }).click();
    await op.getByRole('heading', { name: 'Marco Bianchi' }).waitFor();
    const personId = new URL(op.url()).hash.split('/')[2]!;
    await op.getByLabel('E-mail').fill('marco.bianchi@example.org');
    await op.getByRole('button', { name: 'Salva' }).click();
    await op.getByText('Salvato.').waitFor();
    const person = await p.api<{ personalData: { email?: string } }>('operator', 'GET', `/persons/${personId}`);
    expect(person.personalData.email).toBe('marco.bianchi@example.org');
    await op.getByLabel('Base giuridica').selectOption('public_interest');
    await op.getByRole('button', { name: 'Registra il consenso' }).click();
    await op.getByTestId('consents').getByText('Valutazione: dato').waitFor();
    const withdrawn = await p.countEvents('ConsentWithdrawn');
    await op.getByTestId('consents').getByRole('button', { name: 'Revoca' }).click();
    expect(await p.countEvents('ConsentWithdrawn')).toBe(withdrawn);
    await op.getByTestId('consents').getByRole('button', { name: 'Conferma' }).click();
    await op.getByTestId('consents').getByText('Valutazione: non dato').waitFor();
    expect(await p.countEvents('ConsentWithdrawn')).toBe(withdrawn + 1);
    await visit(op, '15-operator-consents');
  }, 60_000);

  it('registers a person by keyboard alone', async () => {
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${p.address}/app`);
    const kb = page.keyboard;
    const tabTo = async (match: (el: { tag: string; label: string; text: string }) => boolean) => {
      for (let i = 0; i < 80; i++) {
        await kb.press('Tab');
        const el = await page.evaluate(() => {
          const a = document.activeElement as HTMLElement | null;
          const id = a?.id;
          const label = id ? (document.querySelector(`label[for="${id}"]`)?.textContent ?? '') : '';
          return { tag: a?.tagName ?? '', label, text: a?.textContent ?? '' };
        });
        if (match(el)) return;
      }
      throw new Error('never reached the element by Tab');
    };
    await tabTo((e) => e.tag === 'SELECT');
    // the first demo user is the operator: Enter on the form submits it
    await tabTo((e) => e.tag === 'BUTTON' && e.text === 'Accedi');
    await kb.press('Enter');
    await page.getByTestId('who').waitFor();
    await tabTo((e) => e.tag === 'A' && e.text === 'Nuova registrazione');
    await kb.press('Enter');
    await tabTo((e) => e.label === 'Nome *');
    await kb.type('Lamin');
    await kb.press('Tab');
    await kb.type('Keita');
    await kb.press('Tab');
    await kb.type('02031990');
    await tabTo((e) => e.label === 'Codice fiscale (se disponibile)');
    await kb.type('KTELMN90C02Z343X');
    await page.getByText('Il carattere di controllo non corrisponde', { exact: false }).waitFor();
    for (let i = 0; i < 16; i++) await kb.press('Backspace');
    await tabTo((e) => e.tag === 'BUTTON' && e.text === 'Registra');
    const before = await p.countEvents('PersonRegistered');
    await kb.press('Enter');
    await page.getByRole('heading', { name: 'Persona registrata' }).waitFor();
    expect(await p.countEvents('PersonRegistered')).toBe(before + 1);
    await ctx.close();
  }, 60_000);

  it('shows a problem of the API in plain words next to its field', async () => {
    const op = await as('operator');
    await op.getByRole('link', { name: 'Nuova registrazione' }).first().click();
    await op.getByLabel('Nome *', { exact: true }).fill('Maria');
    await op.getByLabel('Cognome *').fill('Errore');
    await op.getByLabel('Data di nascita *').fill('1970-01-01');
    await op.getByLabel('E-mail').fill('non-una-email');
    const before = await p.countEvents('PersonRegistered');
    await op.getByRole('button', { name: 'Registra' }).click();
    const email = op.getByLabel('E-mail');
    await expect.poll(() => email.getAttribute('aria-invalid')).toBe('true');
    const describedBy = (await email.getAttribute('aria-describedby'))!;
    expect(await op.locator(`[id="${describedBy.split(' ').at(-1)}"]`).textContent()).toMatch(/email/i);
    await op.getByText('Correggi i campi indicati.').waitFor();
    expect(await p.countEvents('PersonRegistered')).toBe(before);
  }, 60_000);

  it('stores one event for a double-clicked submit', async () => {
    const op = await as('operator');
    await op.getByRole('link', { name: 'Nuova registrazione' }).first().click();
    await op.getByLabel('Nome *', { exact: true }).fill('Ioana');
    await op.getByLabel('Cognome *').fill(`Doppio ${Date.now().toString(36)}`);
    await op.getByLabel('Data di nascita *').fill('1988-10-10');
    const before = await p.countEvents('PersonRegistered');
    await op.getByRole('button', { name: 'Registra' }).dblclick();
    await op.getByRole('heading', { name: 'Persona registrata' }).waitFor();
    await eventually(async () => expect(await p.countEvents('PersonRegistered')).toBe(before + 1));
    expect(await p.countEvents('PersonRegistered')).toBe(before + 1);
  }, 60_000);

  it('shows likely duplicates from the whole register beside the registration form, a name only on a click that is one recorded read', async () => {
    const operatorSub = 'operatore-accesso-1';
    const register = async (payload: object) => {
      const res = await p.app.inject({ method: 'POST', url: '/persons', headers: { authorization: `Bearer ${p.tokens['operator']}` }, payload: { accessPoint: 'quarrata', municipality: 'Quarrata', ...payload } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().personId as string;
    };
    // the person registered long ago: more than the 50 latest registrations came after her
    const target = await register({ givenName: 'Benedetta', familyName: 'Lucchesini', birthDate: '1973-05-21', fiscalCode: 'LCCBDT73E61G713A' });
    for (let i = 0; i < 51; i++) await register({ givenName: 'Dopo', familyName: `Registrazione ${i}`, birthDate: '2001-02-03' });
    const readsOfTarget = async () => {
      const [row] = await p.infra.db.query<{ n: string }>(
        "SELECT count(*) AS n FROM eventstore.events WHERE event_type = 'CaseHistoryRead' AND data->>'personId' = $1 AND data->>'readBy' = $2",
        [target, operatorSub],
      );
      return Number(row!.n);
    };
    // the name indexes are views fed by the bus
    await eventually(async () => {
      const res = await p.app.inject({ method: 'POST', url: '/persons/likely-duplicates', headers: { authorization: `Bearer ${p.tokens['operator']}` }, payload: { givenName: 'Benedetta', familyName: 'Lucchesini', birthDate: '1973-05-21' } });
      expect(res.json().matches).toHaveLength(1);
    });
    const before = await readsOfTarget();

    const op = await as('operator');
    await op.getByRole('link', { name: 'Nuova registrazione' }).first().click();
    const panel = op.getByTestId('duplicates');
    await panel.getByText('Scrivi la data di nascita').waitFor();
    await op.getByLabel('Nome *', { exact: true }).fill('benedetta');
    await op.getByLabel('Cognome *').fill('LUCCHESINI');
    await op.getByLabel('Data di nascita *').fill('1973-05-21');
    const item = panel.locator(`[data-testid=duplicate][data-person="${target}"]`);
    await item.getByText('Stessi nome, cognome e data di nascita').waitFor();
    // the fiscal code as well: the same person, now for both reasons
    await op.getByLabel('Codice fiscale (se disponibile)').fill('LCCBDT73E61G713A');
    await item.getByText('Stesso codice fiscale; Stessi nome, cognome e data di nascita').waitFor();
    expect(await panel.locator('[data-testid=duplicate]').count()).toBe(1);
    // nothing of the person is on the page until asked, and nothing was recorded as read
    expect(await panel.textContent()).not.toMatch(/Benedetta|Lucchesini/);
    expect(await readsOfTarget()).toBe(before);
    expect(op.url()).not.toMatch(/bened|lucch|1973|LCCBDT/i);
    await visit(op, '17-operator-register-duplicates');
    expect(await readsOfTarget(), 'looking at the panel records nothing').toBe(before);
    await item.getByRole('button', { name: 'Mostra' }).click();
    await item.getByTestId('duplicate-person').getByText('Benedetta Lucchesini', { exact: false }).waitFor();
    // recorded before the answer went out (no record, no answer)
    expect(await readsOfTarget()).toBe(before + 1);
    const [last] = await p.infra.db.query<{ purpose: string }>(
      "SELECT data->>'purpose' AS purpose FROM eventstore.events WHERE event_type = 'CaseHistoryRead' AND data->>'personId' = $1 ORDER BY global_position DESC LIMIT 1",
      [target],
    );
    expect(last!.purpose).toBe('case_view');
    await visit(op, '18-operator-register-duplicate-shown');
    // one read for one click: no second one arrives
    expect(await readsOfTarget()).toBe(before + 1);
    // the operator may still go on registering: the form is there, nothing refused yet
    await op.getByRole('button', { name: 'Registra' }).waitFor();
  }, 180_000);

  it('lets a team member take charge of a person: open the case, agree the plan, hold a meeting, write a note, upload and download a document', async () => {
    // set up through the API, as the demo does: a person with consent and a completed assessment (housing 4: one goal)
    const call = async <T,>(who: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown): Promise<T> => {
      const res = await p.app.inject({ method, url, headers: { authorization: `Bearer ${p.tokens[who]}`, 'idempotency-key': crypto.randomUUID() }, ...(payload === undefined ? {} : { payload: payload as object }) });
      if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
      return res.json() as T;
    };
    const family = `Bianchi ${Date.now().toString(36)}`;
    const { personId } = await call<{ personId: string }>('operator', 'POST', '/persons', { accessPoint: 'pistoia-nord', municipality: 'Pistoia', givenName: 'Giulia', familyName: family, birthDate: '1984-02-09' });
    await call('operator', 'POST', `/persons/${personId}/consents`, { scope: 'assessment', legalBasis: 'explicit_consent' });
    // the assessment service hears of the consent through the bus
    let assessmentId = '';
    await eventually(async () => {
      ({ assessmentId } = await call<{ assessmentId: string }>('socialWorker', 'POST', '/assessments', {
        personId,
        team: [
          { memberId: 'assistente-sociale-1', role: 'social_worker' },
          { memberId: 'operatore-cpi-1', role: 'employment_operator' },
        ],
      }));
    });
    for (const domain of ['economic', 'employment', 'education', 'housing', 'social_network', 'health_care', 'training']) {
      await call('socialWorker', 'PUT', `/assessments/${assessmentId}/domains/${domain}`, { needLevel: domain === 'housing' ? 4 : 1 });
    }
    await call('socialWorker', 'POST', `/assessments/${assessmentId}/completion`, { goals: [{ domain: 'housing', description: 'Un alloggio stabile', targetDate: '2027-06-30' }] });

    const team = await as('socialWorker');
    await team.goto(`${p.address}/app#/person/${personId}`);
    await team.getByTestId('open-care').click();
    // 1. the case: ADI, activation today, the access point, the signed-in member as case manager
    await team.getByLabel('Punto di accesso').fill('pistoia-nord');
    await team.getByRole('button', { name: 'Apri il caso' }).click();
    await team.locator('[data-testid=care-case][data-status=open]').waitFor();
    // 2. the plan from the completed assessment
    await team.getByLabel('Impegni della persona (uno per riga)').fill('Partecipare ai colloqui');
    await team.getByLabel('Impegni dei servizi (uno per riga)').fill('Cercare un alloggio temporaneo');
    await team.getByLabel('Data di verifica').fill('2027-12-15');
    // the housing goal goes to the employment-centre colleague of the assessment team
    await team.locator('select[name="owners.0.owner"]').selectOption('operatore-cpi-1');
    await team.getByRole('button', { name: 'Concorda il progetto' }).click();
    await team.locator('[data-testid=care-plan][data-version="1"]').waitFor();
    // the plan as of yesterday: none yet
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await team.getByLabel('Il progetto alla data').fill(yesterday);
    await team.getByRole('button', { name: 'Mostra' }).click();
    await team.getByText('Nessun progetto concordato.').waitFor();
    await team.getByRole('button', { name: 'Oggi' }).click();
    await team.locator('[data-testid=care-plan][data-version="1"]').waitFor();
    // a goal's progress is the plan's next version
    await team.getByLabel('Andamento').selectOption('partially_achieved');
    await team.locator('section[aria-labelledby=care-plan]').getByLabel('Nota').fill('Ospitalità temporanea trovata');
    await team.getByRole('button', { name: 'Registra l’andamento' }).click();
    await team.locator('[data-testid=care-plan][data-version="2"]').waitFor();
    // 3. a first meeting scheduled for tomorrow, then held now with minutes
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await team.getByLabel('Data e ora').fill(`${tomorrow}T10:00`);
    await team.getByLabel('Sede (codice dell’ufficio)').fill('pistoia-nord');
    await team.getByRole('button', { name: 'Programma un colloquio' }).click();
    const meeting = team.locator('[data-testid=care-meetings] li[data-status=scheduled]');
    await meeting.waitFor();
    await meeting.getByRole('button', { name: 'Registra come svolto' }).click();
    await meeting.getByLabel('Verbale').fill('Primo colloquio: bisogni abitativi confermati');
    await meeting.getByRole('button', { name: 'Salva il colloquio svolto' }).click();
    await team.locator('[data-testid=care-meetings] li[data-status=held]').waitFor();
    // 4. a case note, team only
    await team.getByLabel('Testo della nota').fill('Telefonata con la persona: disponibile al colloquio');
    await team.getByRole('button', { name: 'Scrivi la nota' }).click();
    await team.getByTestId('care-notes').getByText('Telefonata con la persona').waitFor();
    // 5. a small PDF uploaded, listed, downloaded (the download a recorded read)
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');
    await team.getByLabel('File (PDF, immagine)').setInputFiles({ name: 'patto-di-attivazione.pdf', mimeType: 'application/pdf', buffer: pdf });
    await team.getByRole('button', { name: 'Carica il documento' }).click();
    const docs = team.getByTestId('care-documents');
    await docs.getByText('application/pdf').waitFor();
    await visit(team, '19-team-taking-charge');
    expect(violations['19-team-taking-charge']).toEqual([]);
    // the case handed over to the educator, closed (other, with a note) and reopened
    const caseCard = team.locator('section[aria-labelledby=care-case]');
    await caseCard.getByLabel('Collega (identificativo)').fill('educatore-1');
    await caseCard.getByLabel('Ruolo del collega').selectOption('educator');
    await caseCard.getByRole('button', { name: 'Trasferisci il caso' }).click();
    await caseCard.getByText('educatore-1 (').waitFor();
    await caseCard.getByLabel('Motivo').nth(1).selectOption('other');
    await caseCard.getByRole('button', { name: 'Chiudi il caso' }).click();
    // `other` needs a note: the API's problem is shown next to the note
    await caseCard.locator('textarea[aria-invalid=true]').waitFor();
    await caseCard.getByLabel('Nota di chiusura').fill('Prova di chiusura');
    await caseCard.getByRole('button', { name: 'Chiudi il caso' }).click();
    await team.locator('[data-testid=care-case][data-status=closed]').waitFor();
    await caseCard.getByRole('button', { name: 'Riapri il caso' }).click();
    await team.locator('[data-testid=care-case][data-status=open]').waitFor();
    const downloadsBefore = await p.countEvents('CaseHistoryRead', 'document_download');
    const [download] = await Promise.all([team.waitForEvent('download'), docs.getByRole('button', { name: /Scarica/ }).click()]);
    expect(download.suggestedFilename()).toBe('patto-di-attivazione.pdf');
    const { readFile } = await import('node:fs/promises');
    expect(Buffer.compare(await readFile((await download.path())!), pdf)).toBe(0);
    expect(await p.countEvents('CaseHistoryRead', 'document_download')).toBe(downloadsBefore + 1);

    // the API shows the same
    const care = await p.api<{ status: string; caseManager: { memberId: string }; history: Array<{ type: string }> }>('socialWorker', 'GET', `/persons/${personId}/case`);
    expect([care.status, care.caseManager.memberId]).toEqual(['open', 'educatore-1']);
    expect(care.history.map((h) => h.type)).toEqual(expect.arrayContaining(['CaseOpened', 'CaseTransferred', 'CaseClosed', 'CaseReopened']));
    const plan = await p.api<{ version: number; personCommitments: string[]; goals: Array<{ owner: { memberId: string; role: string }; progress: string | null }> }>('socialWorker', 'GET', `/persons/${personId}/plan`);
    expect([plan.version, plan.personCommitments, plan.goals.map((g) => [g.owner, g.progress])]).toEqual([
      2,
      ['Partecipare ai colloqui'],
      [[{ kind: 'team', memberId: 'operatore-cpi-1', role: 'employment_operator' }, 'partially_achieved']],
    ]);
    const { meetings } = await p.api<{ meetings: Array<{ status: string; minutes: string | null; attendees: Array<{ memberId: string }> }> }>('socialWorker', 'GET', `/persons/${personId}/meetings`);
    expect(meetings.map((m) => [m.status, m.minutes, m.attendees.map((a) => a.memberId)])).toEqual([['held', 'Primo colloquio: bisogni abitativi confermati', ['assistente-sociale-1']]]);
    expect((await p.api<{ notes: unknown[] }>('socialWorker', 'GET', `/persons/${personId}/notes`)).notes).toHaveLength(1);
    const listed = await p.api<Array<{ contentType: string; size: number }>>('socialWorker', 'GET', `/persons/${personId}/documents`);
    expect(listed).toEqual([expect.objectContaining({ contentType: 'application/pdf', size: pdf.length })]);
  }, 120_000);

  it('has no serious or critical axe-core violation on any page', () => {
    expect(Object.keys(violations).length).toBeGreaterThanOrEqual(10);
    expect(Object.fromEntries(Object.entries(violations).filter(([, v]) => v.length > 0))).toEqual({});
  });
});
