import type { FastifyInstance } from 'fastify';
import { OneStopError } from '@onestop/events';
import type { Infrastructure } from './infrastructure.js';
import type { Logger } from './logger.js';

/** A start-up that cannot go on for a reason the operator can fix (a port in use, a data directory in use). */
export class StartupError extends OneStopError {
  constructor(code: string, message: string) {
    super(code, message, 500);
  }
}

/** Listens, turning a port in use into one line that names PORT. */
export async function listen(app: FastifyInstance, infra: Infrastructure): Promise<string> {
  const { HOST, PORT } = infra.config;
  try {
    return await app.listen({ host: HOST, port: PORT });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new StartupError('port_in_use', `PORT ${PORT} is already in use on ${HOST}: stop the process that listens there, or set PORT to a free port (PORT=0 picks one).`);
    if (code === 'EACCES') throw new StartupError('port_not_allowed', `PORT ${PORT} on ${HOST} is not allowed to this user: set PORT to a port above 1023.`);
    throw err;
  }
}

/**
 * The life of a service process. From the moment it is created, SIGTERM,
 * SIGINT and SIGHUP stop the process cleanly, whatever it is doing: what was
 * opened so far is closed in reverse order (stop accepting requests, let
 * in-flight ones finish, stop background work, close the infrastructure),
 * then the process exits. Run as an npm script (`npm start`), it also stops
 * when npm goes away, so that no server outlives the command that started it.
 */
export class ProcessLifetime {
  private readonly closers: Array<() => Promise<void>> = [];
  private stopping = false;

  constructor(
    private readonly logger: Logger,
    private readonly exit: (code: number) => never = (code) => process.exit(code),
  ) {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => void this.stop(signal));
    const parent = process.ppid;
    if (process.env.npm_lifecycle_event && parent > 1) {
      // npm forwards signals to its script; should npm itself die (SIGKILL), its script must not stay behind
      setInterval(() => {
        if (process.ppid !== parent) void this.stop('parent process exited');
      }, 1000).unref();
    }
  }

  /** Whether a stop has begun (start-up errors after it are the stop's own doing). */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** Something to close on stop; the last one added closes first. */
  onStop(close: () => Promise<void>): void {
    this.closers.unshift(close);
  }

  /** Closes everything and exits with `code`. */
  async stop(reason: string, code = 0): Promise<never> {
    if (this.stopping) return new Promise<never>(() => {});
    this.stopping = true;
    if (code === 0) this.logger.info({ reason }, 'shutting down');
    const timer = setTimeout(() => {
      this.logger.error('shutdown took longer than 15 s; exiting');
      this.exit(1);
    }, 15_000);
    timer.unref();
    let failed = false;
    for (const close of this.closers) {
      await close().catch((err: unknown) => {
        failed = true;
        this.logger.error({ err }, 'error during shutdown');
      });
    }
    clearTimeout(timer);
    return this.exit(failed ? 1 : code);
  }
}

/**
 * Runs `work` every `intervalMs` (the next run starts only after the last one
 * ended), a first time soon after start (at most 1 s): what a watcher would
 * have found while the process was down is found at once. A failed run is
 * reported and the next one comes as planned. Returns the stop.
 */
export function every(intervalMs: number, work: () => Promise<unknown>, onError: (err: unknown) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      await work();
    } catch (err) {
      onError(err);
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };
  timer = setTimeout(() => void tick(), Math.min(intervalMs, 1_000));
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
