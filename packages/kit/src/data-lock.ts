import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { OneStopError } from '@onestop/events';

// The embedded database (PGlite in ONESTOP_DATA_DIR) is one PostgreSQL that
// lives inside one process: a second process opening the same files would run
// its own recovery over a live database. So the process that opens it holds a
// lock: a Unix socket bound in the kernel's abstract namespace on Linux (the
// kernel frees it when the process dies, however it dies: no stale lock, and
// bind is atomic), a socket file in the data directory elsewhere. The holder
// answers on it with who it is, so the second process can say which process
// to stop; and `onestop` commands learn the running server's address there.

/** What the process holding a data directory says about itself. */
export interface DataDirHolder {
  pid: number;
  /** what holds it: `npm start`, `onestop rebuild`, … */
  purpose: string;
  startedAt: string;
  /** the server's HTTP address, once it listens */
  address?: string;
}

/** The embedded database is open in another process. */
export class DataDirInUseError extends OneStopError {
  constructor(
    readonly dataDir: string,
    readonly holder: DataDirHolder | undefined,
  ) {
    const who = holder ? `process ${holder.pid} (${holder.purpose}${holder.address ? `, ${holder.address}` : ''}, since ${holder.startedAt})` : 'another process';
    super(
      'data_dir_in_use',
      `the embedded database in ${dataDir} is open in ${who}: one process at a time. Stop it first, or set ONESTOP_DATA_DIR to another directory.`,
      409,
      { dataDir, ...(holder ? { holder } : {}) },
    );
  }
}

/** A held data directory: `describe` updates what others are told, `release` frees it. */
export interface DataDirLock {
  describe(update: Partial<DataDirHolder>): void;
  release(): Promise<void>;
}

/** Where the lock of this directory lives (abstract socket name on Linux, a file elsewhere). */
function lockPath(dir: string): string {
  if (process.platform === 'linux') return `\0onestop-data-${createHash('sha256').update(dir).digest('hex').slice(0, 32)}`;
  return join(dir, 'onestop.lock');
}

function resolvedDir(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  return realpathSync(dataDir);
}

/** Asks the holder of a data directory who it is; undefined when nobody answers. */
export async function dataDirHolder(dataDir: string): Promise<DataDirHolder | undefined> {
  const path = lockPath(resolvedDir(dataDir));
  return new Promise((resolve) => {
    let text = '';
    const socket = createConnection({ path });
    const done = (h: DataDirHolder | undefined) => {
      socket.destroy();
      resolve(h);
    };
    socket.setTimeout(2000, () => done(undefined));
    socket.on('data', (d) => (text += String(d)));
    socket.on('end', () => {
      try {
        done(JSON.parse(text) as DataDirHolder);
      } catch {
        done(undefined);
      }
    });
    socket.on('error', () => done(undefined));
  });
}

/**
 * Takes the data directory for this process, or throws DataDirInUseError
 * naming the process that has it.
 */
export async function lockDataDir(dataDir: string, purpose: string): Promise<DataDirLock> {
  const dir = resolvedDir(dataDir);
  const path = lockPath(dir);
  const holder: DataDirHolder = { pid: process.pid, purpose, startedAt: new Date().toISOString() };
  const listen = () =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer((socket) => socket.end(JSON.stringify(holder)));
      server.once('error', reject);
      server.listen({ path, exclusive: true }, () => resolve(server));
    });
  let server: Server;
  try {
    server = await listen();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const other = await dataDirHolder(dataDir);
    if (other || process.platform === 'linux') throw new DataDirInUseError(dataDir, other);
    // a socket file nobody answers on: left by a process that died (not on Linux, whose lock dies with it)
    unlinkSync(path);
    server = await listen();
  }
  // the lock must not keep the process alive on its own
  server.unref();
  return {
    describe: (update) => Object.assign(holder, update),
    release: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
