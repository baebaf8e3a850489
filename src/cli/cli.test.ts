import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const bin = path.join(root, 'src/cli/bin.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragar-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function ragar(home: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(tsx, [bin, '--home', home, ...args], { encoding: 'utf8', env: { ...process.env, RAGAR_HOME: '' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const smallBuild = ['dataset', 'build', 'emoji-styles', '--users', '10', '--concepts', '40', '--size', '16', '--history-min', '4', '--history-max', '8'];

describe('ragar CLI end to end', () => {
  it('builds a small benchmark, prints stats as JSON and gives the same digest twice', () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const built = ragar(a, ...smallBuild, '--json');
    expect(built.code, built.stderr).toBe(0);
    expect(JSON.parse(built.stdout)).toMatchObject({ dataset: 'emoji-styles', users: 10, concepts: 40, items: 200 });
    expect(ragar(b, ...smallBuild, '--quiet').code).toBe(0);

    const stats = ragar(a, 'dataset', 'stats', '--dataset', 'emoji-styles', '--json');
    expect(stats.code).toBe(0);
    const s = JSON.parse(stats.stdout);
    expect(s).toMatchObject({ users: 10, items: 200, concepts: 40 });
    expect(s.styles).toHaveLength(5);
    expect(s.interactions).toBeGreaterThanOrEqual(40);

    const text = ragar(a, 'dataset', 'stats');
    expect(text.stdout).toMatch(/concepts 40 drawn in 5 styles/);
    expect(text.stdout).toMatch(/history length: min \d+/);

    const da = ragar(a, 'dataset', 'digest').stdout.trim();
    expect(da).toMatch(/^[0-9a-f]{64}$/);
    expect(ragar(b, 'dataset', 'digest').stdout.trim()).toBe(da);

    const again = ragar(a, ...smallBuild);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; pass --force/);
  });

  it('imports a JSONL file, refuses a corrupt one without changing the store, and skips with --skip-bad', () => {
    const home = path.join(tmp, 'imp');
    const good = path.join(tmp, 'good.jsonl');
    fs.writeFileSync(
      good,
      [
        '{"type": "item", "id": "a", "title": "apple"}',
        '{"type": "item", "id": "b", "title": "banana"}',
        '{"type": "interaction", "user": "u1", "item": "a", "ts": 1}',
        '{"type": "interaction", "user": "u1", "item": "b", "ts": 2}',
      ].join('\n') + '\n',
    );
    const ok = ragar(home, 'dataset', 'import', 'jsonl', good, '--dataset', 'fruit', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ dataset: 'fruit', users: 1, items: 2, interactions: 2 });

    const bad = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(bad, '{"type": "item", "id": "c", "title": "cherry"}\n{"type": "interaction", "user": "u2", "item": "zzz"}\n');
    const before = fs.readFileSync(path.join(home, 'ragar.sqlite')).length;
    const failed = ragar(home, 'dataset', 'import', 'jsonl', bad, '--dataset', 'cherry');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/bad\.jsonl:2: .*zzz/);
    const list = JSON.parse(ragar(home, 'dataset', 'list', '--json').stdout);
    expect(list.datasets.map((d: { name: string }) => d.name)).toEqual(['fruit']);
    expect(fs.readFileSync(path.join(home, 'ragar.sqlite')).length).toBe(before);

    const skipped = ragar(home, 'dataset', 'import', 'jsonl', bad, '--dataset', 'cherry', '--skip-bad', '--json');
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ items: 1, interactions: 0, skipped: 1 });
  });

  it('explains usage errors and unknown names, and prints help', () => {
    const home = path.join(tmp, 'errs');
    const unknown = ragar(home, 'dataset', 'stats', '--dataset', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no dataset named "nope"/);
    expect(unknown.stderr).not.toMatch(/at .*\.ts:\d+/);
    const nested = ragar(home, 'retrieve', 'evaluate', '--dataset', 'nope');
    expect(nested.code).toBe(1);
    expect(nested.stderr).toMatch(/no dataset named "nope"/);
    const usage = ragar(home, 'dataset', 'build', 'emoji-styles', '--users', 'many');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--users <n>.*invalid/);
    const help = ragar(home, 'dataset', 'import', 'movielens', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--skip-bad/);
  });
});
