// A live run's logs: a 2-rank job prints a line every 100 ms per rank, each holding the
// wall-clock time it was printed at; the page records when each line first shows in the
// DOM (a MutationObserver, performance.timeOrigin + performance.now()). Every line must
// show within 1 s of being printed, in order; the rank filter hides the other rank while
// lines keep coming; scrolled up, the view stays where it is.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sleep, startSuite, stopSuite } from './harness.mjs';
import { kTickerScript, writeProject } from './fixtures.mjs';

const kSeconds = 12;          // how long the job prints
const kMeasureSeconds = 7;    // lines printed in the first 7 s are timed; then the filter is tried
const kLatencyMs = 1000;      // the budget: a line shows within 1 s of being printed
const kLine = /tick (\d+) rank (\d+) at (\d+)/;

// Records, in the page, when each log line's text first appears.
function recordArrivals() {
  window.__arrivals = new Map();
  const scan = () => {
    const now = performance.timeOrigin + performance.now();
    for (const el of document.querySelectorAll('.logs [role="listitem"] .text')) {
      const text = el.textContent;
      if (!window.__arrivals.has(text)) window.__arrivals.set(text, now);
    }
  };
  new MutationObserver(scan).observe(document, { childList: true, subtree: true, characterData: true });
}

describe('live logs', { timeout: 600_000 }, () => {
  const ctx = {};
  before(() => startSuite(ctx, 'logs', async (server) => {
    const dir = writeProject(server, 'ticker', { 'train.py': kTickerScript(kSeconds) });
    const go = join(server.root, 'go');
    const id = await server.kilnOk(['submit', '--source-directory', dir, '--entry-script', 'train.py',
                                    '--process-count-per-node', '2', '--distributed-backend', 'gloo',
                                    '--experiment', 'ui-live', '--env', `UI_TEST_GO=${go}`]);
    await server.waitForRun(id, 'Running');
    return { id, go };
  }), { timeout: 300_000 });
  after(() => stopSuite(ctx), { timeout: 120_000 });

  it('streams both ranks\' lines within 1 s, in order; the rank filter hides the other rank', async () => {
    const { server, studio, fixtures } = ctx;
    await studio.withPage({}, async (page) => {
      await page.context.addInitScript(recordArrivals);
      await page.goto(`/runs/${encodeURIComponent(fixtures.id)}?tab=logs`, { waitFor: '.logs' });
      await page.page.getByText('· live').waitFor();
      assert.equal(await page.page.locator('.logs [role="listitem"]').count(), 0);
      // The stream is open: let the job print.
      const goAt = Date.now();
      writeFileSync(fixtures.go, 'go');

      // Phase 1: every line, timed.
      await sleep(kMeasureSeconds * 1000);
      const filterAt = Date.now();

      // Phase 2: rank 1 hidden while lines keep coming.
      await page.page.getByLabel('rank 1').uncheck();
      await page.page.waitForURL(/[?&]rank=0(&|$)/);
      const lastTick = async () => page.page.evaluate(() => {
        const texts = [...document.querySelectorAll('.logs [role="listitem"]')]
          .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
          .map((el) => el.querySelector('.text').textContent);
        return texts.length ? Number(/tick (\d+)/.exec(texts[texts.length - 1])[1]) : -1;
      });
      const before0 = await lastTick();
      await sleep(1500);
      const ranksShown = await page.page.locator('.logs [role="listitem"] .rank').allInnerTexts();
      assert.ok(ranksShown.length > 0);
      assert.deepEqual([...new Set(ranksShown)], ['r0'], 'only rank 0 with rank 1 unchecked');
      assert.ok(await lastTick() > before0, 'rank 0 lines kept coming while filtered');

      // Phase 3: both again; scrolled to the top, the view stays there as lines come.
      await page.page.getByLabel('rank 1').check();
      await page.page.waitForFunction(() => new URL(location.href).searchParams.get('rank') === null);
      await page.page.waitForFunction(() =>
        new Set([...document.querySelectorAll('.logs [role="listitem"] .rank')].map((e) => e.textContent)).size === 2);
      await page.page.locator('.logs').evaluate((el) => { el.scrollTop = 0; });
      await page.page.getByRole('button', { name: 'Follow', exact: true }).waitFor();
      const countBefore = await page.page.evaluate(() => window.__arrivals.size);
      await sleep(1200);
      assert.equal(await page.page.locator('.logs').evaluate((el) => el.scrollTop), 0, 'the view jumped');
      assert.ok(await page.page.evaluate(() => window.__arrivals.size) >= countBefore);

      // The end: the run completes, the page says so.
      await server.waitForRun(fixtures.id, 'Completed', { timeoutMs: 120_000 });
      await page.page.getByText('run Completed').waitFor({ timeout: 30_000 });

      // Latency of every line printed in phase 1.
      const arrivals = await page.page.evaluate(() => [...window.__arrivals.entries()]);
      const seen = new Map();
      for (const [text, at] of arrivals) {
        const m = kLine.exec(text);
        if (m) seen.set(`${m[1]}/${m[2]}`, { tick: Number(m[1]), rank: Number(m[2]), printed: Number(m[3]), at });
      }
      const perRank = Math.round(kSeconds / 0.1);
      const timed = [];
      for (let rank = 0; rank < 2; rank++) {
        for (let tick = 0; tick < perRank; tick++) {
          const line = seen.get(`${tick}/${rank}`);
          if (line && line.printed < filterAt - 200) timed.push(line);
          if (!line && tick < (kMeasureSeconds - 1) * 10) assert.fail(`tick ${tick} of rank ${rank} never showed`);
        }
      }
      assert.ok(timed.length >= 2 * (kMeasureSeconds - 1) * 10, `${timed.length} lines timed`);
      assert.ok(timed.every((l) => l.printed >= goAt - 50), 'a line was printed before the page watched');
      const latencies = timed.map((l) => l.at - l.printed).sort((a, b) => a - b);
      const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
      console.log(`# log latency over ${latencies.length} lines: p50 ${pick(0.5).toFixed(0)} ms, ` +
                  `p95 ${pick(0.95).toFixed(0)} ms, max ${latencies[latencies.length - 1].toFixed(0)} ms`);
      const late = timed.filter((l) => l.at - l.printed > kLatencyMs);
      assert.equal(late.length, 0, `lines shown more than ${kLatencyMs} ms after they were printed: ` +
                   late.slice(0, 10).map((l) => `tick ${l.tick} rank ${l.rank}: ${(l.at - l.printed).toFixed(0)} ms`).join(', '));
      // In order: each rank's lines arrive in the order they were printed.
      for (let rank = 0; rank < 2; rank++) {
        const own = timed.filter((l) => l.rank === rank).sort((a, b) => a.tick - b.tick);
        own.forEach((l, i) => {
          if (i) assert.ok(l.at >= own[i - 1].at, `rank ${rank}: tick ${l.tick} showed before tick ${own[i - 1].tick}`);
        });
      }

      // The whole log, as the page holds it at the end, in time order with both ranks.
      const rows = await page.page.evaluate(() => [...document.querySelectorAll('.logs [role="listitem"]')]
        .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
        .map((el) => ({ time: el.querySelector('.time').textContent, rank: el.querySelector('.rank').textContent,
                        text: el.querySelector('.text').textContent })));
      const times = rows.map((r) => r.time);
      assert.deepEqual(times, [...times].sort(), 'rows in time order');
      const api = await server.api(`/v1/runs/${fixtures.id}/logs?limit=10000`);
      assert.equal(api.body.lines.filter((l) => kLine.test(l.text)).length, 2 * perRank);
      assert.match(await page.page.locator('section[aria-label="Logs"] .chart-controls').innerText(),
                   new RegExp(`${(2 * perRank).toLocaleString('en-US')} lines`));
      await page.checkAccessible('live logs');
    });
  });
});
