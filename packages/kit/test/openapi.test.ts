import { describe, expect, it } from 'vitest';
import { completeOpenApi, derivedOperationId, sampleOf } from '../src/openapi.js';

// The kit's completion of generated OpenAPI documents (the whole documents are
// linted by services/platform/test/openapi.test.ts).

describe('completeOpenApi', () => {
  const doc = () => ({
    openapi: '3.1.0',
    info: { title: 't', version: '1' },
    paths: {
      '/things/{thingId}': {
        post: {
          security: [{ bearerAuth: [] }],
          parameters: [{ in: 'path', name: 'thingId', required: true, schema: { type: 'string', format: 'uuid' } }],
          requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { size: { type: 'integer', minimum: 3 } } } } } },
          responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object', properties: { slug: { type: 'string', pattern: '^[a-z]+-[a-z]+$' } } } } } } },
        },
      },
      '/public': { get: { responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'string', examples: ['mine'] } } } } } } },
    },
  });

  it('derives an operationId per method and path, and keeps a declared one', () => {
    expect(derivedOperationId('post', '/persons/{personId}/consents/{scope}/withdrawal')).toBe('postPersonsByPersonIdConsentsByScopeWithdrawal');
    expect(derivedOperationId('get', '/api/need-profiles')).toBe('getApiNeedProfiles');
    const out = completeOpenApi(doc(), []) as { paths: Record<string, Record<string, { operationId: string }>> };
    expect(out.paths['/things/{thingId}']!.post!.operationId).toBe('postThingsByThingId');
  });

  it('documents the refusals an operation can give, and declares only the ones used', () => {
    const out = completeOpenApi(doc(), []) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>>; components: { responses: Record<string, unknown> } };
    expect(Object.keys(out.paths['/things/{thingId}']!.post!.responses).sort()).toEqual(['200', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500']);
    expect(Object.keys(out.paths['/public']!.get!.responses).sort()).toEqual(['200', '429', '500']);
    expect(Object.keys(out.components.responses)).not.toContain('NotYetVisible');
  });

  it('gives an untagged operation the declared general tag, and every tag a description', () => {
    const out = completeOpenApi(doc(), [{ name: 'unused', description: 'x' }]) as { tags: Array<{ name: string; description: string }>; paths: Record<string, Record<string, { tags: string[] }>> };
    expect(out.paths['/public']!.get!.tags).toEqual(['general']);
    expect(out.tags).toEqual([{ name: 'general', description: expect.any(String) }]);
  });

  it('makes examples that fit their schema, and keeps a declared one', () => {
    const out = completeOpenApi(doc(), []) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { example: unknown }> }; responses: Record<string, { content?: Record<string, { example: unknown }> }>; parameters?: Array<{ example: unknown }> }>> };
    const post = out.paths['/things/{thingId}']!.post!;
    expect(post.requestBody!.content['application/json']!.example).toEqual({ size: 3 });
    expect(post.parameters![0]!.example).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.paths['/public']!.get!.responses['200']!.content!['application/json']!.example).toBe('mine');
    expect(sampleOf({ type: 'string', pattern: '^\\d{1,18}$' })).toBe('42');
    expect(sampleOf({ type: 'integer', minimum: -9007199254740991 })).toBe(1);
    expect(sampleOf({ type: 'array', items: { type: 'string', enum: ['a', 'b'] }, minItems: 2 })).toEqual(['a', 'a']);
  });
});
