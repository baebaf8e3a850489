import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockGeneratorEngine } from '../generation/mockEngine.js';
import { StudyVotes } from '../store/service.js';
import { Store } from '../store/store.js';
import { startService, type RunningService } from './serve.js';
import { serviceHome } from './testing/fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
let home = '';
let svc: RunningService | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  home = await serviceHome();
  svc = await startService({ settings: { home }, port: 0, auth: false, engines: { mock: new MockGeneratorEngine() }, defaultEngine: 'mock' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await svc?.close();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)('the web app in headless Chromium', () => {
  it('generates with live progress, shows scored candidates with the chosen one marked, and stores a study vote', async () => {
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${svc!.url}/`);
    await page.waitForSelector('#history .hitem img', { timeout: 60_000 });
    expect(await page.locator('#history .bar').count()).toBeGreaterThan(0);
    await page.selectOption('#engine', 'mock');
    await page.fill('#candidates', '3');
    await page.click('#generate');
    await page.waitForSelector('#result .cand.chosen', { timeout: 60_000 });
    expect(await page.locator('#result .cand').count()).toBe(3);
    expect(await page.locator('#progress').getAttribute('data-status')).toBe('succeeded');
    expect(await page.textContent('#status')).toMatch(/succeeded/);
    expect(await page.textContent('#result')).toMatch(/ranker -?\d/);
    const shots = fs.mkdtempSync(path.join(process.env.RAGAR_SYSTEM_TMPDIR ?? os.tmpdir(), 'ragar-browser-artifacts-')); // kept after the run: the test's screenshots
    console.log(`screenshots in ${shots}`);
    await page.screenshot({ path: path.join(shots, 'app.png'), fullPage: true });

    await page.click('#cmpWeighting');
    await page.waitForFunction(() => document.querySelectorAll('#compare .cand.chosen').length === 2, null, { timeout: 60_000 });

    await page.goto(`${svc!.url}/study`);
    await page.click('#next');
    await page.waitForSelector('#pair button', { timeout: 60_000 });
    expect(await page.locator('#pair button').count()).toBe(2);
    await page.screenshot({ path: path.join(shots, 'study.png'), fullPage: true });
    await page.locator('#pair button').first().click();
    await page.waitForFunction(() => /1 vote/.test(document.querySelector('#votes')?.textContent ?? ''), null, { timeout: 30_000 });
    expect(errors).toEqual([]);
    expect(await page.textContent('#error')).toBe('');
    const store = Store.open(home);
    const votes = new StudyVotes(store).list();
    store.close();
    expect(votes).toHaveLength(1);
    expect(new Set([votes[0].conditionA, votes[0].conditionB])).toEqual(new Set(['weighting=retrieval', 'weighting=uniform']));
    expect(fs.statSync(path.join(shots, 'app.png')).size).toBeGreaterThan(1000);
  });
});
