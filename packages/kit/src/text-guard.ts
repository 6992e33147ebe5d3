import type { FastifyInstance } from 'fastify';
import { ValidationError } from '@onestop/events';

// NUL characters and unpaired UTF-16 surrogates: PostgreSQL can keep neither
// (text and jsonb refuse NUL, and a lone surrogate has no UTF-8 form), and no
// field of OneStop has a use for them. Refused at the edge with a 400, so they
// never reach a handler, an event, a view or a log line as a 500.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The path of the first string (a value or a key) that no store could keep, if any. */
export function findUnstorableText(value: unknown, root: string): string | undefined {
  // iterative: a body may nest as deep as its size allows
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return path;
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (UNSTORABLE.test(k)) return `${path}.${k.replace(UNSTORABLE, '?')}`;
        stack.push([x, `${path}.${k}`]);
      }
    }
  }
  return undefined;
}

/** Refuses text that cannot be stored in any body, query string or path parameter (400). */
export function registerTextGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    const parts = { body: req.body, querystring: req.query, params: req.params };
    for (const [part, value] of Object.entries(parts)) {
      const at = findUnstorableText(value, part);
      if (at) throw new ValidationError(`invalid ${part}`, [{ path: at, message: 'NUL characters and unpaired UTF-16 surrogates are not allowed' }]);
    }
  });
}
