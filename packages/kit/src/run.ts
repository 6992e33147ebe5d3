import type { FastifyInstance } from 'fastify';
import type { Infrastructure } from './infrastructure.js';
import { listenForMetrics } from './server.js';

/**
 * Listens, and on SIGTERM/SIGINT stops accepting requests, lets in-flight ones
 * finish, stops background work, closes the infrastructure, then exits.
 */
export async function listenUntilSignalled(
  app: FastifyInstance,
  infra: Infrastructure,
  stopBackground: Array<() => Promise<void>>,
): Promise<string> {
  const address = await app.listen({ host: infra.config.HOST, port: infra.config.PORT });
  const metrics = await listenForMetrics(app, infra.config);
  if (metrics) infra.logger.info({ address: metrics.address }, 'metrics listening');
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    infra.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      infra.logger.error('shutdown took longer than 15 s; exiting');
      process.exit(1);
    }, 15_000);
    try {
      await app.close();
      await metrics?.close();
      for (const stop of stopBackground) await stop();
      await infra.close();
      clearTimeout(timer);
      process.exit(0);
    } catch (err) {
      infra.logger.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  return address;
}
