// The playground page in a real headless browser (system Chromium driven by puppeteer-core): the model card
// shows, a prompt typed and Generate pressed streams text into the page, tokens/s shown; a screenshot goes
// to test/artifacts/serve-page.png. Skips when /usr/bin/chromium is missing (.ci/run installs it).
const { test } = require('uvu');
const assert = require('uvu/assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const mypt = require('..');
const { serveCheckpoint } = require('./helpers/serve-model');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, 'artifacts');

if (!fs.existsSync(CHROMIUM)) {
  test.skip(`the playground in Chromium (no browser at ${CHROMIUM})`, () => {});
} else {
  test('the playground: model card, a prompt streamed into the page, tokens/s; screenshot kept', async () => {
    const puppeteer = require('puppeteer-core');
    const ckpt = await serveCheckpoint('tiny');
    const server = await mypt.serve({ checkpoint: ckpt, port: 0, device: 'cpu' });
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mypt-chromium-'));
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true, userDataDir: profile,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`],
    });
    try {
      const page = await browser.newPage();
      const outside = [];
      page.on('request', (r) => { if (!r.url().startsWith(server.url)) outside.push(r.url()); });
      await page.setViewport({ width: 1100, height: 800 });
      await page.goto(server.url + '/', { waitUntil: 'networkidle0' });
      // the card
      await page.waitForSelector('#card-table');
      const card = await page.$eval('#card-table', (t) => t.innerText);
      assert.match(card, /parameters/);
      assert.match(card, /training steps\s+20/);
      assert.match(card, /val loss\s+\d\.\d{4}/);
      assert.ok(await page.$('#loss-svg'));
      // type, press generate, see the text arrive
      await page.$eval('#prompt', (el) => { el.value = ''; });
      await page.type('#prompt', 'JULIET:');
      await page.$eval('#max_tokens', (el) => { el.value = '120'; });
      await page.$eval('#seed', (el) => { el.value = '5'; });
      await page.click('#generate');
      await page.waitForFunction(() => document.getElementById('stats').dataset.tokens === '120', { timeout: 30000 });
      const shown = await page.$eval('#generated', (el) => el.textContent);
      const expected = await mypt.generate({ checkpoint: ckpt, prompt: 'JULIET:', max_new_tokens: 120, seed: 5, temperature: 0.8, device: 'cpu' });
      assert.is(shown, expected);
      assert.match(await page.$eval('#stats', (el) => el.textContent), /120 tokens in [\d.]+ s · [\d.]+ tokens\/s/);
      assert.equal(outside, []);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'serve-page.png'), fullPage: true });
      // an error from the server shows on the page
      await page.$eval('#max_tokens', (el) => { el.value = '5000'; });
      await page.click('#generate');
      await page.waitForSelector('#output .error');
      assert.match(await page.$eval('#output .error', (el) => el.textContent), /maximum context length is 256/);
    } finally {
      await browser.close();
      await server.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });
}

test.run();
