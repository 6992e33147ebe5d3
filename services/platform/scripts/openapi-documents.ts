import type { FastifyInstance } from 'fastify';
import { buildServiceApp, type ServiceModule } from '@onestop/kit';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { allModules } from '../src/modules.js';

/**
 * The OpenAPI document of every service as its own process serves it, and the
 * combined one of `npm start` (`onestop`), built without listening on an
 * in-memory embedded store: what `npm run openapi` writes and lints.
 */
export async function openApiDocuments(): Promise<Record<string, object>> {
  const infra = await openTestInfrastructure();
  try {
    const modules = allModules();
    for (const m of modules) await m.migrate?.(infra);
    const document = async (list: readonly ServiceModule[]) => {
      const app: FastifyInstance = await buildServiceApp({
        title: list.length === 1 ? list[0]!.title : 'OneStop',
        description: list.map((m) => m.description).join('\n\n'),
        modules: list,
        ctx: infra,
      });
      await app.ready();
      const doc = structuredClone(app.swagger()) as object;
      await app.close();
      return doc;
    };
    const docs: Record<string, object> = { onestop: await document(modules) };
    for (const m of allModules()) docs[m.name] = await document([m]);
    return docs;
  } finally {
    await infra.close();
  }
}
