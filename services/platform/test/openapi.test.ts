import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServiceApp, type Principal, type Role } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { allModules } from '../src/modules.js';
import { openApiDocuments } from '../scripts/openapi-documents.js';
import { lintOpenApi } from '../scripts/openapi-lint.js';

// The OpenAPI documents of every service (and the combined one of `npm start`)
// pass Redocly's recommended rules and Spectral's spectral:oas with no error and
// no warning, document every refusal as problem+json, and carry examples that
// Swagger UI's "Try it out" sends as they are: each request example is accepted
// by the route's own validation.

type Operation = {
  operationId?: string;
  tags?: string[];
  description?: string;
  parameters?: Array<{ in: string; name: string; example?: unknown }>;
  requestBody?: { content: Record<string, { example?: unknown }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { example?: unknown; schema?: unknown }> }>;
};
type Doc = {
  servers?: unknown[];
  tags?: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { responses?: Record<string, { content: Record<string, { schema: unknown; example?: unknown }> }> };
};

let docs: Record<string, Doc>;
const dir = mkdtempSync(join(tmpdir(), 'onestop-openapi-'));
beforeAll(async () => {
  docs = (await openApiDocuments()) as Record<string, Doc>;
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const operations = (doc: Doc) => Object.entries(doc.paths).flatMap(([url, item]) => Object.entries(item).map(([method, op]) => ({ url, method, op })));

describe('OpenAPI documents', () => {
  it('are written for every service and for npm start', () => {
    expect(Object.keys(docs).sort()).toEqual(['assessment', 'console', 'intake', 'onestop', 'projections', 'referral']);
    expect(operations(docs.onestop!).length).toBeGreaterThan(40);
  });

  it('pass redocly (recommended) and spectral (spectral:oas) with 0 errors and 0 warnings', async () => {
    const files = Object.entries(docs).map(([name, doc]) => {
      const file = join(dir, `${name}.openapi.json`);
      writeFileSync(file, JSON.stringify(doc, null, 2));
      return file;
    });
    const findings = await lintOpenApi(files);
    expect(findings.map((f) => `${f.linter} ${f.severity} ${f.rule} ${f.where}: ${f.message}`)).toEqual([]);
  }, 300_000);

  it('give every operation a unique operationId, a declared tag, servers, and its refusals as problem+json with an example', () => {
    for (const doc of Object.values(docs)) {
      expect(doc.servers?.length).toBeGreaterThan(0);
      const declared = new Set(doc.tags!.map((t) => t.name));
      const ids = new Set<string>();
      for (const { url, method, op } of operations(doc)) {
        const name = `${method.toUpperCase()} ${url}`;
        expect(op.operationId, name).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
        expect(ids.has(op.operationId!), `${name}: duplicate operationId`).toBe(false);
        ids.add(op.operationId!);
        for (const t of op.tags ?? []) expect(declared.has(t), `${name}: tag ${t}`).toBe(true);
        const refusals = Object.entries(op.responses).filter(([status]) => /^[45]/.test(status));
        expect(refusals.map(([s]) => s), name).toEqual(expect.arrayContaining(['429', '500']));
        if (op.description?.includes('Roles:')) expect(refusals.map(([s]) => s), name).toEqual(expect.arrayContaining(['401', '403']));
        for (const [status, r] of refusals) {
          const resolved = r.$ref ? doc.components.responses![r.$ref.split('/').at(-1)!]! : r;
          const media = resolved.content?.['application/problem+json'];
          expect(media, `${name} ${status}`).toBeDefined();
          expect((media!.example as { status: number }).status, `${name} ${status}`).toBe(Number(status));
        }
      }
    }
  });

  it('give every request body, JSON answer and parameter an example', () => {
    for (const { url, method, op } of operations(docs.onestop!)) {
      const name = `${method.toUpperCase()} ${url}`;
      if (op.requestBody) expect(op.requestBody.content['application/json']?.example, name).toBeDefined();
      for (const p of op.parameters ?? []) if (p.in === 'path') expect(p.example, `${name} ${p.name}`).toBeDefined();
      for (const [status, r] of Object.entries(op.responses)) {
        const json = /^2/.test(status) ? r.content?.['application/json'] : undefined;
        if (json) expect(json.example, `${name} ${status}`).toBeDefined();
      }
    }
  });
});

describe('request examples, sent as Swagger UI sends them', () => {
  let app: FastifyInstance;
  let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
  beforeAll(async () => {
    infra = await openTestInfrastructure();
    const modules = allModules();
    for (const m of modules) await m.migrate?.(infra);
    app = await buildServiceApp({ title: 'OneStop', description: 'examples', modules, ctx: infra });
    await app.ready();
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await infra?.close();
  });

  it('pass the validation of their route (never 400 or 415) with a token of an allowed role', async () => {
    const principals: Record<Role, Principal> = {
      operator: { sub: 'operatore-accesso-1', role: 'operator' },
      team: { sub: 'assistente-sociale-1', role: 'team', teamRole: 'social_worker' },
      partner: { sub: 'centro-impiego-desk', role: 'partner', partnerId: 'centro-impiego' },
      auditor: { sub: 'revisore-1', role: 'auditor' },
      admin: { sub: 'amministratore-1', role: 'admin' },
    };
    let sent = 0;
    for (const { url, method, op } of operations(docs.onestop!)) {
      const example = op.requestBody?.content['application/json']?.example;
      if (example === undefined) continue;
      const role = /Roles: ([a-z_]+)/.exec(op.description ?? '')?.[1] as Role | undefined;
      const path = url.replace(/\{([^}]+)\}/g, (_m, p: string) => encodeURIComponent(String(op.parameters!.find((x) => x.name === p)!.example)));
      const res = await app.inject({
        method: method.toUpperCase() as 'POST',
        url: path,
        payload: example as object,
        headers: role ? { authorization: `Bearer ${await infra.token(principals[role])}` } : {},
      });
      expect([400, 401, 403, 415], `${method.toUpperCase()} ${url}: ${res.statusCode} ${res.body}`).not.toContain(res.statusCode);
      sent += 1;
    }
    expect(sent).toBeGreaterThan(15);
  }, 120_000);
});
