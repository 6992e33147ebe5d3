#!/usr/bin/env node
// The `onestop` command (root package.json "bin"): runs the TypeScript source
// of the CLI through tsx, as `npm start` runs the services: no build step.
// Everything is resolved from this file, so it works from any directory.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli.ts');

let tsx;
try {
  tsx = import.meta.resolve('tsx');
} catch {
  process.stderr.write('onestop: tsx is not installed; run `npm install` in the OneStop repository first\n');
  process.exit(3);
}

const child = spawn(process.execPath, ['--conditions=onestop-source', '--import', tsx, cli, ...process.argv.slice(2)], { stdio: 'inherit' });

// the terminal sends Ctrl-C to both; a signal sent to this process alone is passed on
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}
child.on('error', (err) => {
  process.stderr.write(`onestop: cannot start node: ${err.message}\n`);
  process.exit(3);
});
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 3);
});
