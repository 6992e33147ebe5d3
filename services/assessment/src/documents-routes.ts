import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DocumentContentType, Uuid } from '@onestop/events';
import { eventContextOf, principalOf, type ServiceContext } from '@onestop/kit';
import { bytesMatch, checkedFileName, contentDisposition, DocumentTypeMismatch, UnsupportedDocumentType } from './documents-files.js';
import type { Documents } from './documents.js';

const SOURCE = '/onestop/assessment';
const ALLOWED = DocumentContentType.options;
const DocumentInfo = z.object({ documentId: z.string(), contentType: z.string(), size: z.number(), addedAt: z.string() });

/**
 * Documents of a person's case, for the team only: a partner never reaches
 * them (what a partner needs travels as a referral; a document is the
 * team's record). Upload is the raw file as the body, its type in
 * Content-Type and its name in X-File-Name (percent-encoded UTF-8).
 */
export const documentRoutes = (documents: Documents): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    // the allowed types arrive as bytes (this plugin's routes only); any other type is refused by fastify with 415
    app.removeContentTypeParser(['text/plain']);
    app.addContentTypeParser([...ALLOWED], { parseAs: 'buffer', bodyLimit: ctx.config.ONESTOP_DOCUMENT_MAX_BYTES }, (_req, body, done) => done(null, body));

    r.post(
      '/persons/:personId/documents',
      {
        bodyLimit: ctx.config.ONESTOP_DOCUMENT_MAX_BYTES,
        config: { roles: ['team'], ownBody: true },
        schema: {
          tags: ['documents'],
          summary: 'Attach a document to the person’s case (encrypted with the person’s key)',
          description: `The body is the file itself. Content-Type: one of ${ALLOWED.join(', ')}; the bytes must be of that type (checked by their signature). X-File-Name: the file’s name, percent-encoded UTF-8, at most 200 characters, no path, no control characters. At most ONESTOP_DOCUMENT_MAX_BYTES bytes (10 MB by default): 413 beyond.`,
          params: z.object({ personId: Uuid }),
          response: { 201: DocumentInfo.extend({ position: z.number() }) },
        },
      },
      async (req, reply) => {
        const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const declared = DocumentContentType.safeParse(type);
        if (!declared.success) throw new UnsupportedDocumentType(ALLOWED);
        const body = req.body as unknown;
        if (!Buffer.isBuffer(body) || body.length === 0) throw new DocumentTypeMismatch(declared.data);
        if (!bytesMatch(declared.data, body)) throw new DocumentTypeMismatch(declared.data);
        const header = req.headers['x-file-name'];
        const fileName = checkedFileName(Array.isArray(header) ? header[0] : header);
        const res = await documents.add(req.params.personId, declared.data, body, fileName, eventContextOf(req, SOURCE, ctx.clock.now()));
        return reply.code(201).header('location', `/documents/${res.documentId}`).send(res);
      },
    );

    r.get(
      '/persons/:personId/documents',
      {
        config: { roles: ['team'] },
        schema: {
          tags: ['documents'],
          summary: 'The documents of a person’s case (type, size, date: names only on download)',
          params: z.object({ personId: Uuid }),
          response: { 200: z.array(DocumentInfo) },
        },
      },
      async (req) => documents.list(req.params.personId),
    );

    r.get(
      '/documents/:documentId',
      {
        config: { roles: ['team'] },
        schema: {
          tags: ['documents'],
          summary: 'Download a document (recorded as a read: CaseHistoryRead, purpose document_download)',
          params: z.object({ documentId: Uuid }),
        },
      },
      async (req, reply) => {
        const d = await documents.download(req.params.documentId, principalOf(req).sub, eventContextOf(req, SOURCE, ctx.clock.now()));
        return reply
          .header('content-type', d.contentType)
          .header('content-disposition', contentDisposition(d.fileName))
          .header('cache-control', 'no-store')
          .header('x-content-type-options', 'nosniff')
          .send(d.bytes);
      },
    );
  };
