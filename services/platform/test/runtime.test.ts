import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@onestop/testkit';

// OneStop runs on Node.js 24 LTS wherever npm runs it: the root devDependency
// `node` ships the Node 24 binary inside the registry package, and npm scripts
// (`npm start`, `npm test`, `npm run lint`, `npm run bench`) find it first on
// PATH (node_modules/.bin), whatever node the machine has.

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};
const major = (version: string) => Number(/^v?(\d+)\./.exec(version)![1]);

describe('the Node.js runtime', () => {
  it('runs this test run on Node.js 24', () => {
    expect(major(process.versions.node)).toBe(24);
    expect(pkg.engines.node).toMatch(/^>=24\./);
  });

  it('pins Node.js 24 as a devDependency whose install script is approved, so a clean `npm ci` installs it', () => {
    expect(major(pkg.devDependencies.node!.replace(/^[\^~]/, ''))).toBe(24);
    expect(pkg.allowScripts.node).toBe(true);
  });

  it('gives npm scripts the pinned Node.js 24 even when the machine has another node first on PATH', async () => {
    // a PATH without the repository's node_modules/.bin: what a shell outside npm has
    const path = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.includes('node_modules')).join(delimiter);
    const { stdout } = await run('npm', ['exec', '--no', '--', 'node', '-p', 'process.versions.node + " " + process.execPath'], {
      cwd: REPO_ROOT,
      env: { ...process.env, PATH: path },
    });
    const [version, execPath] = stdout.trim().split(' ');
    expect(major(version!)).toBe(24);
    expect(execPath).toContain(join('node_modules', 'node'));
  });
});
