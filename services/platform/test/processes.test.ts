import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, REPO_ROOT } from '@onestop/testkit';
import { alive, commandLine, descendants, npmStart, spawnNpmStart, startEnv, stopAll, type Started } from './npm-start-process.js';
import { freePort } from './topology.js';

// `npm start` as supervisors and scripts treat it: a signal to any process of
// the chain stops all of it and frees the port; a second process on the same
// embedded database, a port in use and the CLI beside a running server each
// get one clear line, never a stack trace.

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'onestop-proc-'));
  dirs.push(d);
  return d;
};
const ONESTOP = join(REPO_ROOT, 'services/platform/bin/onestop.js');
const running: Started[] = [];
afterAll(async () => {
  for (const s of running) await stopAll(s);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Whether something accepts connections on the port. */
const portTaken = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(true));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });

async function started(dataDir = tempDir()) {
  const port = await freePort();
  const s = await npmStart(dataDir, port, { ONESTOP_DEMO: 'off' });
  running.push(s);
  const chain = [s.child.pid!, ...descendants(s.child.pid!)];
  const server = chain.find((pid) => commandLine(pid).includes('services/platform/src/main.ts'))!;
  expect(server, `the node server among ${chain.map(commandLine).join(' | ')}`).toBeDefined();
  // the script execs node: no shell stays between npm and the server
  expect(chain.map(commandLine).filter((c) => /^(\/bin\/)?sh /.test(c))).toEqual([]);
  return { s, port, dataDir, chain, server };
}

async function expectAllGone(chain: number[], port: number) {
  await eventually(async () => {
    expect(chain.filter(alive), 'processes left behind').toEqual([]);
    expect(await portTaken(port), `port ${port} still taken`).toBe(false);
  }, 30_000);
}

/** Runs a command to its end; its output and exit code. */
function runToEnd(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('beside a running npm start', { timeout: 180_000 }, () => {
  let first: Awaited<ReturnType<typeof started>>;

  it('a second npm start on the same data directory is refused in one line naming the running process', async () => {
    first = await started();
    const second = spawnNpmStart(first.dataDir, await freePort(), { ONESTOP_DEMO: 'off' });
    const code = await new Promise<number | null>((r) => second.child.once('exit', r));
    expect(code).toBe(1);
    expect(second.output()).toContain(`is open in process ${first.server}`);
    expect(second.output()).toContain('ONESTOP_DATA_DIR');
    expect(second.output()).not.toMatch(/^\s+at /m);
  });

  it('a port in use gets one line naming PORT, no stack trace', async () => {
    const second = spawnNpmStart(tempDir(), first.port, { ONESTOP_DEMO: 'off' });
    const code = await new Promise<number | null>((r) => second.child.once('exit', r));
    expect(code).toBe(1);
    expect(second.output()).toContain(`PORT ${first.port} is already in use`);
    expect(second.output()).not.toMatch(/^\s+at /m);
    expect(second.output()).not.toContain('EADDRINUSE');
  });

  it('prints a token for every role and team role, and no partner that the directory does not hold (ONESTOP_DEMO=off)', async () => {
    expect(Object.keys(first.s.tokens).sort()).toEqual(['admin', 'auditor', 'educator', 'employmentOperator', 'networkManager', 'operator', 'socialWorker', 'tutor']);
    expect(first.s.output()).toContain('No partners in the directory yet');
    expect(first.s.output()).not.toContain('partner:');
  });

  it('onestop token works beside the running server, and the server accepts its token', async () => {
    const made = await runToEnd(process.execPath, [ONESTOP, 'token', '--role', 'team', '--team-role', 'tutor', '--sub', 'tutor-9'], startEnv(first.dataDir, first.port));
    expect(made.code, made.out).toBe(0);
    const jwt = /eyJ[\w-]+\.[\w-]+\.[\w-]+/.exec(made.out)![0];
    const res = await fetch(`${first.s.address}/partners`, { headers: { authorization: `Bearer ${jwt}` } });
    expect(res.status).toBe(200);
  });

  it('the onestop command refuses to open the embedded database of the running server (exit 2)', async () => {
    const refused = await runToEnd(process.execPath, [ONESTOP, 'rebuild'], startEnv(first.dataDir, first.port));
    expect(refused.code, refused.out).toBe(2);
    expect(refused.out).toContain(`is open in process ${first.server}`);
    expect(refused.out).toContain(first.s.address);
  });

  it('SIGTERM to the npm process: the server stops, the port is free, no process remains; the CLI works then', async () => {
    process.kill(first.s.child.pid!, 'SIGTERM');
    await expectAllGone(first.chain, first.port);
    const verified = await runToEnd(process.execPath, [ONESTOP, 'verify'], startEnv(first.dataDir, first.port));
    expect(verified.code, verified.out).toBe(0);
  });
});

describe('npm start stops on a signal to any process of its chain', { timeout: 180_000 }, () => {
  it('SIGINT to the node server', async () => {
    const { port, chain, server } = await started();
    process.kill(server, 'SIGINT');
    await expectAllGone(chain, port);
  });

  it('SIGKILL to npm (it cannot pass anything on): the server notices and stops by itself', async () => {
    const { s, port, chain } = await started();
    process.kill(s.child.pid!, 'SIGKILL');
    await expectAllGone(chain, port);
  });
});
