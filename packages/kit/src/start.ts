import type { FastifyInstance } from 'fastify';
import type { Clock } from './clock.js';
import { ConfigError, loadConfig, type BaseConfig } from './config.js';
import { DataDirInUseError } from './data-lock.js';
import { ensureDevSecrets, openInfrastructure, type AdapterFactories, type Infrastructure } from './infrastructure.js';
import { createLogger, prettyLogs } from './logger.js';
import { listen, ProcessLifetime, StartupError } from './run.js';
import { buildServiceApp, listenForMetrics, type ServiceModule } from './server.js';
import { startTracing } from './tracing.js';

export interface StartedServices {
  app: FastifyInstance;
  infra: Infrastructure;
  address: string;
  lifetime: ProcessLifetime;
}

/**
 * Opens the infrastructure, migrates and mounts the modules, starts their
 * background work and listens: the body of every `main.ts`. A signal at any
 * point stops the process cleanly; a start-up the operator can fix (bad
 * configuration, port or data directory in use) ends with one line on stderr
 * naming what to change, and exit code 1.
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
  let config: BaseConfig;
  try {
    config = ensureDevSecrets(loadConfig(options.env ?? process.env));
  } catch (err) {
    return startupFailed(name, err);
  }
  const tracing = startTracing(config, { serviceName: name });
  const logger = createLogger(name, config.LOG_LEVEL, { pretty: prettyLogs(config) });
  const lifetime = new ProcessLifetime(logger);
  // registered first, so it runs last: flushes the spans of everything stopped before it
  lifetime.onStop(() => tracing.shutdown());
  try {
    const infra = await openInfrastructure(config, logger, { adapters: options.adapters, purpose: name, ...(options.clock ? { clock: options.clock } : {}) });
    lifetime.onStop(() => infra.close());
    for (const m of modules) await m.migrate?.(infra);
    const app = await buildServiceApp({
      title: modules.length === 1 ? modules[0]!.title : 'OneStop',
      description: modules.map((m) => m.description).join('\n\n'),
      modules,
      ctx: infra,
    });
    for (const m of modules) if (m.start) lifetime.onStop(await m.start(infra));
    lifetime.onStop(() => app.close());
    await options.beforeListen?.(app, infra);
    const address = await listen(app, infra);
    infra.dataDirLock?.describe({ address });
    const metrics = await listenForMetrics(app, infra.config);
    if (metrics) {
      lifetime.onStop(() => metrics.close());
      logger.info({ address: metrics.address }, 'metrics listening');
    }
    logger.info({ address, modules: modules.map((m) => m.name) }, 'listening');
    return { app, infra, address, lifetime };
  } catch (err) {
    // a signal closed what the start-up was using: the stop exits the process
    if (lifetime.isStopping) return new Promise<never>(() => {});
    if (!isOperatorFixable(err)) logger.fatal({ err }, 'start-up failed');
    else process.stderr.write(`${name}: ${(err as Error).message}\n`);
    return lifetime.stop('start-up failed', 1);
  }
}

const isOperatorFixable = (err: unknown) => err instanceof ConfigError || err instanceof StartupError || err instanceof DataDirInUseError;

function startupFailed(name: string, err: unknown): never {
  if (!isOperatorFixable(err)) throw err;
  process.stderr.write(`${name}: ${(err as Error).message}\n`);
  process.exit(1);
}
