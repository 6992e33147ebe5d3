import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intakeModule } from '@onestop/intake';
import { buildServiceApp, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { assessmentModule } from '../src/app.js';

// Documents of a person's case on real PostgreSQL: upload, download,
// refusals (size, type, names, roles), the read audit and the erasure.

let db: TestDatabase;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
let app: FastifyInstance;
let assessment: ServiceModule;
let stopConsumer: () => Promise<void>;
const tokens: Record<string, string> = {};
const MAX = 64 * 1024;

beforeAll(async () => {
  db = await createTestDatabase('documents');
  infra = await openTestInfrastructure({ databaseUrl: db.url, env: { ONESTOP_DOCUMENT_MAX_BYTES: String(MAX) } });
  const intake = intakeModule();
  assessment = assessmentModule();
  await intake.migrate!(infra);
  await assessment.migrate!(infra);
  app = await buildServiceApp({ title: 'OneStop', description: 'intake and assessment', modules: [intake, assessment], ctx: infra });
  await app.ready();
  stopConsumer = await assessment.start!(infra);
  tokens.operator = await infra.token({ sub: 'op-1', role: 'operator' });
  tokens.sw = await infra.token({ sub: 'sw-1', role: 'team', teamRole: 'social_worker' });
  tokens.partner = await infra.token({ sub: 'p-1', role: 'partner', partnerId: 'caritas' });
  tokens.auditor = await infra.token({ sub: 'aud-1', role: 'auditor' });
  tokens.admin = await infra.token({ sub: 'admin-1', role: 'admin' });
});

afterAll(async () => {
  await stopConsumer?.();
  await app?.close();
  await infra?.close();
  await db?.drop();
});

const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from('1 0 obj << /Type /Catalog >> endobj\nGiulia Bianchi, certificato\n%%EOF\n')]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);

const upload = (personId: string, body: Buffer | string, type: string, name: string | undefined, who = 'sw') =>
  app.inject({
    method: 'POST',
    url: `/persons/${personId}/documents`,
    payload: body,
    headers: { 'content-type': type, ...(name !== undefined ? { 'x-file-name': name } : {}), ...(who ? { authorization: `Bearer ${tokens[who]}` } : {}) },
  });
const get = (url: string, who: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tokens[who]}` } });

async function person(): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/persons',
    payload: { accessPoint: 'pistoia-centro', municipality: 'Pistoia', givenName: 'Giulia', familyName: 'Bianchi', birthDate: '1980-01-01' },
    headers: { authorization: `Bearer ${tokens.operator}` },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().personId as string;
}

/** Uploads once the assessment service has heard of the person. */
const uploaded = (personId: string, body: Buffer, type: string, name: string) =>
  eventually(async () => {
    const r = await upload(personId, body, type, name);
    expect(r.statusCode, r.body).toBe(201);
    return r.json() as { documentId: string; size: number; position: number };
  });

describe('documents', () => {
  let personId: string;
  let documentId: string;
  const name = 'certificato_invalidità Bianchi.pdf';

  it('uploads a PDF and downloads the same bytes with a safe Content-Disposition; nothing readable is stored', async () => {
    personId = await person();
    const res = await uploaded(personId, PDF, 'application/pdf', encodeURIComponent(name));
    documentId = res.documentId;
    expect(res.size).toBe(PDF.length);
    const down = await get(`/documents/${documentId}`, 'sw');
    expect(down.statusCode).toBe(200);
    expect(down.rawPayload.equals(PDF)).toBe(true);
    expect(down.headers['content-type']).toBe('application/pdf');
    expect(down.headers['content-disposition']).toBe(`attachment; filename="certificato_invalidit_ Bianchi.pdf"; filename*=UTF-8''${encodeURIComponent(name)}`);
    expect(down.headers['cache-control']).toBe('no-store');
    // neither the log nor the table holds the name or the content in the clear
    const [added] = await infra.store.readStream(`document-${documentId}`);
    expect(added).toMatchObject({ type: 'DocumentAdded', partitionKey: personId, data: { personId, contentType: 'application/pdf', size: PDF.length, ciphertextSha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(JSON.stringify(added)).not.toMatch(/Bianchi|certificato/);
    const [row] = await infra.db.query<{ ciphertext: Uint8Array }>('SELECT ciphertext FROM documents.documents WHERE document_id = $1', [documentId]);
    expect(Buffer.from(row!.ciphertext).includes('Giulia')).toBe(false);
    expect(Buffer.from(row!.ciphertext).includes('%PDF')).toBe(false);
    // listed without names
    const list = (await get(`/persons/${personId}/documents`, 'sw')).json();
    expect(list).toEqual([{ documentId, contentType: 'application/pdf', size: PDF.length, addedAt: expect.any(String) }]);
  });

  it('records every download as a read of the person’s data', async () => {
    const reads = async () => (await infra.store.readStream(`audit-${personId}`)).filter((e) => e.type === 'CaseHistoryRead' && (e.data as { documentId?: string }).documentId === documentId);
    const before = (await reads()).length;
    expect((await get(`/documents/${documentId}`, 'sw')).statusCode).toBe(200);
    const after = await reads();
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)!.data).toEqual({ personId, purpose: 'document_download', readBy: 'sw-1', documentId });
  });

  it('refuses a file over the limit with 413 problem+json, and stores nothing', async () => {
    const big = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(MAX + 1, 0x20)]);
    const res = await upload(personId, big, 'application/pdf', 'big.pdf');
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await get(`/persons/${personId}/documents`, 'sw')).json()).toHaveLength(1);
  });

  it('refuses bytes that are not the declared type (422) and types outside the allow-list (415)', async () => {
    const mislabelled = await upload(personId, PNG, 'application/pdf', 'scan.pdf');
    expect(mislabelled.statusCode).toBe(422);
    expect(mislabelled.json()).toMatchObject({ code: 'content_type_mismatch' });
    expect((await upload(personId, PDF, 'image/png', 'scan.png')).json()).toMatchObject({ status: 422, code: 'content_type_mismatch' });
    expect((await upload(personId, PDF, 'text/plain', 'note.txt')).json()).toMatchObject({ status: 422, code: 'content_type_mismatch' });
    expect((await upload(personId, Buffer.from('MZ\u0000\u0000binary'), 'text/plain', 'note.txt')).statusCode).toBe(422);
    const exe = await upload(personId, Buffer.from('MZ\u0090\u0000'), 'application/x-msdownload', 'setup.exe');
    expect(exe.statusCode).toBe(415);
    expect(exe.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await upload(personId, Buffer.from('<svg onload=alert(1)>'), 'image/svg+xml', 'x.svg')).statusCode).toBe(415);
    // a PNG and a text file of the right type are taken
    expect((await upload(personId, PNG, 'image/png', 'scan.png')).statusCode).toBe(201);
    expect((await upload(personId, Buffer.from('appunti del colloquio\n'), 'text/plain; charset=utf-8', 'note.txt')).statusCode).toBe(201);
  });

  it('refuses file names with path tricks, control characters, direction overrides or over 200 characters (422 unsafe_file_name)', async () => {
    const names = ['../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', 'a%2Fb.pdf', 'c%3A%5Cwindows%5Cx.pdf', '.htaccess', 'x.pdf%00.exe', 'line%0Abreak.pdf', 'gpj%E2%80%AEexe.pdf', `${'a'.repeat(201)}.pdf`, '%E0%A4%A', '%20%20', undefined];
    for (const n of names) {
      const res = await upload(personId, PDF, 'application/pdf', n);
      expect(res.statusCode, `${n}: ${res.body}`).toBe(422);
      expect(res.json().code, String(n)).toBe('unsafe_file_name');
      expect(res.body).not.toContain('passwd');
    }
  });

  it('lets only the team upload, list and download: partners, operators, auditors and admins are refused', async () => {
    for (const who of ['partner', 'operator', 'auditor', 'admin']) {
      expect((await upload(personId, PDF, 'application/pdf', 'x.pdf', who)).statusCode, who).toBe(403);
      expect((await get(`/documents/${documentId}`, who)).statusCode, who).toBe(403);
      expect((await get(`/persons/${personId}/documents`, who)).statusCode, who).toBe(403);
    }
    expect((await app.inject({ method: 'GET', url: `/documents/${documentId}` })).statusCode).toBe(401);
    expect((await get(`/documents/${randomUUID()}`, 'sw')).statusCode).toBe(404);
    expect((await upload(randomUUID(), PDF, 'application/pdf', 'x.pdf')).statusCode).toBe(404);
  });

  it('is gone (404, no read recorded) as soon as the person’s key is shredded, before the rows are deleted', async () => {
    const other = await person();
    const { documentId: id } = await uploaded(other, PDF, 'application/pdf', 'referto.pdf');
    // the key alone, as the erasure does first: the assessment service has not heard of it yet
    await infra.keyring.erase(other);
    expect(await infra.db.query('SELECT 1 FROM documents.documents WHERE document_id = $1', [id])).toHaveLength(1);
    const reads = async () => (await infra.store.readStream(`audit-${other}`)).filter((e) => e.type === 'CaseHistoryRead').length;
    const before = await reads();
    const res = await get(`/documents/${id}`, 'sw');
    expect(res.statusCode, res.body).toBe(404);
    expect(res.body).not.toContain('Giulia');
    expect(await reads()).toBe(before);
  });

  it('after the person’s erasure the documents are gone and their ciphertext would not open', async () => {
    const [row] = await infra.db.query<{ iv: Uint8Array; tag: Uint8Array; ciphertext: Uint8Array }>('SELECT iv, tag, ciphertext FROM documents.documents WHERE document_id = $1', [documentId]);
    const erased = await app.inject({ method: 'POST', url: `/persons/${personId}/erasure`, payload: { reason: 'data_subject_request' }, headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(erased.statusCode, erased.body).toBeLessThan(300);
    await eventually(async () => expect(await infra.db.query('SELECT 1 FROM documents.documents WHERE person_id = $1', [personId])).toHaveLength(0));
    expect((await get(`/documents/${documentId}`, 'sw')).statusCode).toBe(404);
    // a copy of the ciphertext (a backup) does not open either: the key is shredded
    await expect(infra.keyring.decryptBytes(personId, { iv: Buffer.from(row!.iv), tag: Buffer.from(row!.tag), ct: Buffer.from(row!.ciphertext) }, documentId)).rejects.toMatchObject({ code: 'personal_data_erased' });
    expect((await upload(personId, PDF, 'application/pdf', 'again.pdf')).statusCode).toBe(410);
  });
});
