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

  it('checks train generator\'s options and starting weights before it opens the data (a wrong --init fails at once, even in an empty home)', () => {
    const home = path.join(tmp, 'empty');
    const missing = path.join(tmp, 'no-such-weights');
    const r = ragar(home, 'train', 'generator', '--variant', 'ragar-norank', '--init', missing, '--steps', '1', '--out', path.join(tmp, 'ft'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no generator weights to start from in ${missing}`);
    const s = ragar(home, 'train', 'generator', '--variant', 'ragar-norank', '--init-state', '--steps', '1', '--out', path.join(tmp, 'ft'));
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/carrying the optimiser state needs the weights to start from/);
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

  it('imports with --encoding and --images, refuses an empty import, and dataset delete removes orphan images', () => {
    const home = path.join(tmp, 'enc');
    const dir = path.join(tmp, 'enc-data');
    fs.mkdirSync(path.join(dir, 'local', 'pics'), { recursive: true });
    // A 1x1 PNG (red).
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64');
    fs.writeFileSync(path.join(dir, 'local', 'pics', 'a.png'), png);
    const file = path.join(dir, 'latin.jsonl');
    fs.writeFileSync(
      file,
      Buffer.concat([
        Buffer.from('{"type": "item", "id": "a", "title": "Cr', 'latin1'),
        Buffer.from([0xe8]),
        Buffer.from('me", "image": "/home/alice/data/pics/a.png"}\n{"type": "interaction", "user": "u1", "item": "a"}\n', 'latin1'),
      ]),
    );
    const notUtf8 = ragar(home, 'dataset', 'import', 'jsonl', file, '--dataset', 'd');
    expect(notUtf8.code).toBe(1);
    expect(notUtf8.stderr).toMatch(/latin\.jsonl:1: not valid UTF-8 .*--encoding/);
    const noImages = ragar(home, 'dataset', 'import', 'jsonl', file, '--dataset', 'd', '--encoding', 'latin1', '--skip-bad');
    expect(noImages.code).toBe(1);
    expect(noImages.stderr).toMatch(/latin\.jsonl: nothing to import: no items/);
    const ok = ragar(home, 'dataset', 'import', 'jsonl', file, '--dataset', 'd', '--encoding', 'latin1', '--images', path.join(dir, 'local'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/warning: 1 image path\(s\) found under .*local by their tail: dropped "\/home\/alice\/data", matched e\.g\. "pics\/a\.png"/);
    const files = () => fs.readdirSync(path.join(home, 'images'), { recursive: true }).filter((f) => String(f).endsWith('.png'));
    expect(files()).toHaveLength(1);
    const del = ragar(home, 'dataset', 'delete', '--dataset', 'd', '--json');
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toEqual({ deleted: 'd', images: 1 });
    expect(files()).toHaveLength(0);
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
