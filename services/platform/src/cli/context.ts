import { ConfigError, DataDirInUseError, createLogger, ensureDevSecrets, loadConfig, openInfrastructure, type BaseConfig, type Clock, type Infrastructure, type ServiceModule } from '@onestop/kit';
import type { Projections } from '@onestop/projections';
import { allModules } from '../modules.js';
import { CliError, EXIT } from './exit.js';

// What every `onestop` command stands on: the services' own configuration
// (the same environment, the same loader, the same development secrets in
// ONESTOP_DATA_DIR) and their infrastructure with every module migrated, so
// the CLI works wherever the services do: the embedded store in .data, or
// PostgreSQL (and Kafka, KurrentDB) by configuration.

/** Input and output of a command: results on stdout, progress and notes on stderr. */
export interface CliIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
  env: Record<string, string | undefined>;
}

/** The validated configuration, with development secrets where the services would generate them. */
export function cliConfig(env: Record<string, string | undefined>): BaseConfig {
  return ensureDevSecrets(loadConfig(env));
}

export interface Opened {
  infra: Infrastructure;
  modules: ServiceModule[];
  projections: Projections;
  close(): Promise<void>;
}

/**
 * Opens the infrastructure and migrates every module (idempotent), as
 * `npm start` does before it serves. Logs go to stdout as JSON lines (pino):
 * quiet (errors only) unless LOG_LEVEL is set.
 */
export async function openCli(env: Record<string, string | undefined>, options: { clock?: Clock } = {}): Promise<Opened> {
  const config = cliConfig(env);
  const logger = createLogger('onestop-cli', env.LOG_LEVEL ? config.LOG_LEVEL : 'error');
  let infra: Infrastructure;
  try {
    infra = await openInfrastructure(config, logger, { purpose: 'the onestop command', ...(options.clock ? { clock: options.clock } : {}) });
  } catch (err) {
    // a running `npm start` has the embedded database: refused, nothing touched (its HTTP API answers meanwhile)
    if (err instanceof DataDirInUseError) throw new CliError(err.message, EXIT.usage);
    throw infrastructureError(err, config);
  }
  const modules = allModules();
  try {
    for (const m of modules) await m.migrate?.(infra);
  } catch (err) {
    await infra.close();
    throw err instanceof ConfigError ? err : infrastructureError(err, config);
  }
  const projections = (modules.find((m) => m.name === 'projections') as unknown as { projections(ctx: Infrastructure): Projections }).projections(infra);
  return { infra, modules, projections, close: () => infra.close() };
}

/** Where the store is, for messages: "the embedded store in .data" or "postgres". */
export function describeStore(config: BaseConfig): string {
  return config.ONESTOP_STORE === 'embedded' ? `the embedded store in ${config.ONESTOP_DATA_DIR}` : `the ${config.ONESTOP_STORE} store`;
}

function infrastructureError(err: unknown, config: BaseConfig): CliError {
  const message = err instanceof Error ? err.message || err.name : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  return new CliError(`cannot open ${describeStore(config)}: ${message}${typeof code === 'string' && !message.includes(code) ? ` (${code})` : ''}`, EXIT.infrastructure);
}
