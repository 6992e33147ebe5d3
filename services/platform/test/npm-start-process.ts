import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { eventually, REPO_ROOT } from '@onestop/testkit';

// The real `npm start`, as a person or a supervisor runs it: npm → node (the
// script `exec`s node, so no shell stays in between), on a data directory and
// a port of the test's own.

export interface Started {
  child: ChildProcess;
  output: () => string;
  address: string;
  tokens: Record<string, string>;
  readyIn: number;
}

/** The environment of a fresh installation: nothing of the test run's own configuration leaks in. */
export function startEnv(dataDir: string, port: number, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ONESTOP_DATA_DIR: dataDir,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    NODE_ENV: 'development',
    DATABASE_URL: '',
    KAFKA_BROKERS: '',
    ONESTOP_STORE: '',
    ONESTOP_BUS: '',
    JWT_SECRET: '',
    ONESTOP_MASTER_KEYS: '',
    ONESTOP_INDEX_KEY: '',
    ONESTOP_AUDIT_SIGNING_KEY: '',
    ...env,
  };
}

/** Spawns `npm start --silent` (its own process group, so a test can end all of it). */
export function spawnNpmStart(dataDir: string, port: number, env: Record<string, string> = {}): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn('npm', ['start', '--silent'], { cwd: REPO_ROOT, env: startEnv(dataDir, port, env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  return { child, output: () => out };
}

/** Runs `npm start` and waits for its ready banner. */
export async function npmStart(dataDir: string, port: number, env: Record<string, string> = {}): Promise<Started> {
  const { child, output } = spawnNpmStart(dataDir, port, env);
  const readyIn = await eventually(
    () => {
      const out = output();
      if (child.exitCode !== null) throw Object.assign(new Error(`npm start exited ${child.exitCode}:\n${out}`), { fatal: true });
      const m = /OneStop is ready in ([\d.]+) s/.exec(out);
      if (!m || !out.includes('Ctrl-C stops it')) throw new Error(`not ready yet:\n${out.slice(-2000)}`);
      return Number(m[1]);
    },
    120_000,
    200,
  );
  const out = output();
  const tokens = Object.fromEntries([...out.matchAll(/^ {2}(\S+)\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const address = /Dashboard:\s+(http:\/\/\S+)\/dashboard/.exec(out)![1]!;
  return { child, output, address, tokens, readyIn };
}

/** Ends a started `npm start` and all of its processes (SIGTERM, then SIGKILL after 20 s). */
export async function stopAll(s: { child: ChildProcess }): Promise<void> {
  const pids = [s.child.pid!, ...descendants(s.child.pid!)];
  if (s.child.exitCode === null) {
    const exited = new Promise((r) => s.child.once('exit', r));
    signal(-s.child.pid!, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  }
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGKILL');
}

/** Sends a signal to a process (group) that may have ended meanwhile. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Whether a process exists (and is not a zombie waiting for its parent). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every process below `pid`, from /proc (Linux). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** The command line of a process. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}
