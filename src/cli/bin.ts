#!/usr/bin/env node
// Entry point of the `ragar` command (package.json "bin").
import { runCli } from './main.js';

// A reader that stops early (`ragar eval --help | head`) closes the pipe: end quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await runCli(process.argv);
