#!/usr/bin/env node
// Entry point of the `ragar` command (package.json "bin").
import { runCli } from './main.js';

process.exitCode = await runCli(process.argv);
