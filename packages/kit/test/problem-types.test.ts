import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { REPO_ROOT } from '@onestop/testkit';
import { buildServiceApp } from '../src/server.js';
import { PROBLEM_TYPES } from '../src/problem-types.js';
import { openTestInfrastructure } from '../src/testing.js';

// Every problem code the source can answer with has a page at /problems/<code>,
// and that is where every problem's `type` points (no placeholder domain).

/** The codes the source raises: literal codes given to the error classes and to sendProblem, and the kit's maps. */
function codesInSource(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) files.push(p);
    }
  };
  for (const root of ['packages', 'services']) for (const ws of readdirSync(join(REPO_ROOT, root))) walk(join(REPO_ROOT, root, ws, 'src'));
  const patterns = [
    /super\(\s*'([a-z][a-z0-9_]+)'/g,
    /new (?:RuleViolation|ConflictError|OneStopError|StartupError|ForbiddenError)\(\s*'([a-z][a-z0-9_]+)'/g,
    /sendProblem\([^,]+,\s*\d+,\s*'([a-z][a-z0-9_]+)'/g,
    /ForbiddenError\([^;]*?, '([a-z][a-z0-9_]+)'/g,
    /code = '([a-z][a-z0-9_]+)'/g,
    /FST_ERR_[A-Z_]+: '([a-z][a-z0-9_]+)'/g,
    /status === 429 \? '([a-z_]+)' : '([a-z_]+)'/g,
    /\? 'bad_url' : '([a-z_]+)'/g,
  ];
  const codes = new Set<string>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) for (const c of m.slice(1)) if (c) codes.add(c);
  }
  return [...codes].sort();
}

let app: FastifyInstance;
let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
beforeAll(async () => {
  infra = await openTestInfrastructure();
  app = await buildServiceApp({ title: 't', description: 't', modules: [], ctx: infra });
});
afterAll(async () => {
  await app?.close();
  await infra?.close();
});

describe('problem types', () => {
  it('have a page for every code the source uses', () => {
    const codes = codesInSource();
    expect(codes.length).toBeGreaterThan(50);
    expect(codes.filter((c) => !Object.hasOwn(PROBLEM_TYPES, c))).toEqual([]);
  });

  it('are served at /problems/<code> as a human page (or JSON), and an unknown code is a 404 problem', async () => {
    for (const code of Object.keys(PROBLEM_TYPES)) {
      const res = await app.inject({ method: 'GET', url: `/problems/${code}` });
      expect(res.statusCode, code).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.body).toContain(`<h1>${code}</h1>`);
    }
    const json = await app.inject({ method: 'GET', url: '/problems/not_found', headers: { accept: 'application/json' } });
    expect(json.json()).toMatchObject({ code: 'not_found', explanation: expect.stringContaining('existence') });
    const unknown = await app.inject({ method: 'GET', url: '/problems/no_such_code' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'route_not_found', type: '/problems/route_not_found' });
  });

  it('is where every problem points: a relative type on this server', async () => {
    const res = await app.inject({ method: 'GET', url: '/nowhere' });
    const problem = res.json() as { type: string; code: string };
    expect(problem.type).toBe(`/problems/${problem.code}`);
    expect((await app.inject({ method: 'GET', url: problem.type })).statusCode).toBe(200);
  });
});
