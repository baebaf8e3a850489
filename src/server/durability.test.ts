import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { JobTable } from '../store/service.js';
import { Store } from '../store/store.js';
import { serviceHome } from './testing/fixture.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const children: ChildProcess[] = [];
let home = '';

/** Start `ragar serve` as a child process; resolves with its URL once it listens. */
function serve(h: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(path.join(root, 'node_modules/.bin/tsx'), [path.join(root, 'src/cli/bin.ts'), '--home', h, 'serve', '--port', '0', '--no-auth', '--engine', 'mock'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, url: JSON.parse(line).url });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe('durable jobs (embedded queue)', () => {
  it('finishes every accepted job exactly once after kill -9 during a job and a restart', async () => {
    home = await serviceHome();
    const first = await serve(home);
    const store0 = Store.open(home);
    const users = store0.db.prepare('SELECT external_id FROM users ORDER BY id LIMIT 3').pluck().all() as string[];
    const item = store0.db.prepare("SELECT external_id FROM items WHERE style = 'noto' LIMIT 1").pluck().get() as string;
    store0.close();
    const ids: string[] = [];
    for (const [i, user] of users.entries()) {
      const r = await fetch(`${first.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `k${i}` }, body: JSON.stringify({ user, reference: item, candidates: 2 }) });
      expect(r.status).toBe(202);
      ids.push((await r.json()).id);
    }
    // Wait until the first job is running (the worker is loading its models), then kill -9.
    for (let i = 0; i < 300; i++) {
      const j = await (await fetch(`${first.url}/v1/generations/${ids[0]}`)).json();
      if (j.status === 'running') break;
      expect(j.status).toBe('queued');
      await new Promise((r) => setTimeout(r, 20));
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const store = Store.open(home);
    const table = new JobTable(store);
    const before = ids.map((id) => table.get(id)!.status);
    expect(before[0]).toBe('running');
    expect(before.filter((s) => s === 'succeeded').length).toBeLessThan(ids.length);

    const second = await serve(home);
    // Repeating a request with its Idempotency-Key after the restart finds the same job.
    const again = await (await fetch(`${second.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'k0' }, body: JSON.stringify({ user: users[0], reference: item, candidates: 2 }) })).json();
    expect(again).toMatchObject({ id: ids[0], created: false });
    for (const id of ids) {
      for (let i = 0; i < 600; i++) {
        const s = table.get(id)!.status;
        if (s === 'succeeded' || s === 'failed') break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const rows = ids.map((id) => table.get(id)!);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(rows.map((r) => r.runs)).toEqual([1, 1, 1]); // finished exactly once
    expect(rows[0].attempts).toBe(2); // claimed before the kill and after the restart
    expect(store.db.prepare('SELECT COUNT(*) FROM jobs').pluck().get()).toBe(3); // no duplicate job
    store.close();
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  }, 300_000);
});
