import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { OneStopError } from '@onestop/events';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  valueType?: z.ZodType;
  items?: z.ZodType[];
  rest?: z.ZodType | null;
  getter?: () => z.ZodType;
}

const defOf = (s: unknown): Def | undefined => (s as { _zod?: { def?: Def } } | undefined)?._zod?.def;

/**
 * The paths, inside a zod schema, of objects that are not strict (that would
 * drop unknown fields silently instead of refusing them), at every depth.
 */
export function looseObjects(schema: unknown, path = '$', seen = new Set<unknown>()): string[] {
  const def = defOf(schema);
  if (!def || seen.has(schema)) return [];
  seen.add(schema);
  const inner = (s: unknown, p: string) => looseObjects(s, p, seen);
  switch (def.type) {
    case 'object': {
      const own = defOf(def.catchall)?.type === 'never' ? [] : [path];
      return [...own, ...Object.entries(def.shape ?? {}).flatMap(([k, v]) => inner(v, `${path}.${k}`))];
    }
    case 'array':
      return inner(def.element, `${path}[]`);
    case 'pipe':
      return [...inner(def.in, path), ...inner(def.out, path)];
    case 'union':
      return (def.options ?? []).flatMap((o) => inner(o, path));
    case 'intersection':
      return [...inner(def.left, path), ...inner(def.right, path)];
    case 'record':
      return inner(def.valueType, `${path}.*`);
    case 'tuple':
      return [...(def.items ?? []).flatMap((s, i) => inner(s, `${path}[${i}]`)), ...(def.rest ? inner(def.rest, `${path}[]`) : [])];
    case 'lazy':
      return def.getter ? inner(def.getter(), path) : [];
    default:
      return def.innerType ? inner(def.innerType, path) : [];
  }
}

/**
 * Two rules for every route, checked by the kit rather than trusted to each
 * route file:
 * - a body schema is strict at every depth (an unknown field is refused, not
 *   dropped): a route whose body schema is not fails at start-up;
 * - a route without a body schema refuses a body, whatever its media type
 *   (400 `body_not_allowed`, before it is read), unless it declares that it
 *   validates a body of its own format (`config.ownBody`).
 */
export function registerBodyRules(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const body = (route.schema as { body?: unknown } | undefined)?.body;
    const loose = body ? looseObjects(body) : [];
    if (loose.length) throw new Error(`${String(route.method)} ${route.url}: body objects must be .strict(): ${loose.join(', ')}`);
  });
  app.addHook('onRequest', async (req) => {
    // no route here: its 404 says more than a refused body would
    if (req.routeOptions.url === undefined) return;
    if ((req.routeOptions.schema as { body?: unknown } | undefined)?.body || req.routeOptions.config.ownBody) return;
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (hasBody) throw new OneStopError('body_not_allowed', 'this route takes no body', 400);
  });
}
