/**
 * Vitest global setup: every test run gets its own temporary root, and the tests' temporary
 * folders (`os.tmpdir()` reads TMPDIR, which the test processes and the commands they spawn
 * inherit) are removed with it when the run ends, passed or failed. Without it each run left a few
 * hundred `ragar-*` folders in /tmp. `RAGAR_KEEP_TEST_TMP=1` keeps the root (its path is printed).
 * What is meant to outlive a run (the service tests' fixture home, built once per machine; the
 * browser test's screenshots) goes to the system temporary folder, passed on as `RAGAR_SYSTEM_TMPDIR`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const system = os.tmpdir();
  const root = fs.mkdtempSync(path.join(system, 'ragar-test-run-'));
  process.env.RAGAR_SYSTEM_TMPDIR ??= system;
  process.env.TMPDIR = root;
  return () => {
    if (process.env.RAGAR_KEEP_TEST_TMP === '1') console.log(`test temporary folders kept in ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  };
}
