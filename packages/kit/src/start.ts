import type { FastifyInstance } from 'fastify';
import type { Clock } from './clock.js';
import { loadConfig, type BaseConfig } from './config.js';
import { ensureDevSecrets, openInfrastructure, type AdapterFactories, type Infrastructure } from './infrastructure.js';
import { createLogger } from './logger.js';
import { listenUntilSignalled } from './run.js';
import { buildServiceApp, type ServiceModule } from './server.js';
import { startTracing } from './tracing.js';

export interface StartedServices {
  app: FastifyInstance;
  infra: Infrastructure;
  address: string;
  stopBackground: Array<() => Promise<void>>;
}

/**
 * Opens the infrastructure, migrates and mounts the modules, starts their
 * background work and listens: the body of every `main.ts`.
 */
export async function startServices(
  name: string,
  modules: readonly ServiceModule[],
  options: {
    env?: Record<string, string | undefined>;
    adapters?: AdapterFactories;
    clock?: Clock;
    /** runs once the app is built and background work runs, before listening (e.g. a demo seed) */
    beforeListen?: (app: FastifyInstance, infra: Infrastructure) => Promise<void>;
  } = {},
): Promise<StartedServices> {
  let config: BaseConfig = loadConfig(options.env ?? process.env);
  config = ensureDevSecrets(config);
  const tracing = startTracing(config, { serviceName: name });
  const logger = createLogger(name, config.LOG_LEVEL);
  const infra = await openInfrastructure(config, logger, { adapters: options.adapters, ...(options.clock ? { clock: options.clock } : {}) });
  for (const m of modules) await m.migrate?.(infra);
  const app = await buildServiceApp({
    title: modules.length === 1 ? modules[0]!.title : 'OneStop',
    description: modules.map((m) => m.description).join('\n\n'),
    modules,
    ctx: infra,
  });
  const stopBackground: Array<() => Promise<void>> = [];
  for (const m of modules) if (m.start) stopBackground.push(await m.start(infra));
  // last: flushes the spans of everything stopped before it
  stopBackground.push(() => tracing.shutdown());
  await options.beforeListen?.(app, infra);
  const address = await listenUntilSignalled(app, infra, stopBackground);
  logger.info({ address, modules: modules.map((m) => m.name) }, 'listening');
  return { app, infra, address, stopBackground };
}
