import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildTinyEmojiHome } from '../../ranking/tinyHome.testing.js';
import { SCHEMA_VERSION } from '../../store/migrations.js';

/** Built once per machine: in the system temporary folder, not the test run's own (vitest.tmpdir.ts). */
const FIXTURE = path.join(process.env.RAGAR_SYSTEM_TMPDIR ?? os.tmpdir(), `ragar-service-fixture-s${SCHEMA_VERSION}-v1`);

async function build(dir: string): Promise<void> {
  await buildTinyEmojiHome(dir, { users: 12, maxConcepts: 16, historyMax: 8 });
}

/**
 * A fresh copy of a tiny emoji-styles data home (real embedded encoders, a quickly trained
 * ranker) for the service's tests. The home is built once per machine (under a lock, shared by
 * parallel test files) and copied, so each test owns its store.
 */
export async function serviceHome(): Promise<string> {
  const done = path.join(FIXTURE, '.complete');
  if (!fs.existsSync(done)) {
    const lock = `${FIXTURE}.lock`;
    for (;;) {
      try {
        fs.mkdirSync(lock);
        break;
      } catch {
        if (fs.existsSync(done)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    try {
      if (!fs.existsSync(done)) {
        fs.rmSync(FIXTURE, { recursive: true, force: true });
        await build(FIXTURE);
        fs.writeFileSync(done, 'ok\n');
      }
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-service-'));
  fs.cpSync(FIXTURE, copy, { recursive: true, filter: (src) => !src.endsWith('.complete') });
  return copy;
}
