// The runs list and one run's tabs (overview, logs, metrics, outputs, code) over the
// fixture runs (fixtures.mjs): what they show matches the API, charts hold and draw the
// data, and no page logs an error, fails a request or has a serious accessibility problem.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kSeriesColour, seriesPixels, startSuite, stopSuite, waitForRows } from './harness.mjs';
import { kSignalPoints, kSpikeStep, kSpikeValue, kSweepQualities, makeFixtures } from './fixtures.mjs';

const runPage = (run, tab, extra = '') => `/runs/${encodeURIComponent(run.id)}?tab=${tab}${extra}`;

describe('runs list and run pages', { timeout: 600_000 }, () => {
  const ctx = {};
  before(() => startSuite(ctx, 'runs', (server) => makeFixtures(server)), { timeout: 400_000 });
  after(() => stopSuite(ctx), { timeout: 120_000 });

  it('lists every top-level run with its status and failure cause, as the API does', async () => {
    const { server, studio, fixtures } = ctx;
    const listed = await server.api('/v1/runs?top_level=true&limit=1000');
    assert.equal(listed.status, 200);
    const top = listed.body.runs;
    assert.deepEqual(top.map((r) => r.id).sort(),
                     ['failed', 'ranks', 'sweep', 'image', 'signal'].map((n) => fixtures[n].id).sort());
    await studio.withPage({}, async (page) => {
      await page.goto('/runs');
      await waitForRows(page, top.map((r) => r.id));
      for (const run of top) {
        const row = page.page.locator(`[role="row"][data-run="${run.id}"]`);
        assert.equal(await row.locator('.badge').innerText(), run.status, `status of ${run.id}`);
        const cause = (await row.locator('.cell.cause').innerText()).trim();
        assert.equal(cause, run.status === 'Failed' ? run.failure_reason : '', `failure cause of ${run.id}`);
        assert.equal(await row.locator('.cell.name a').innerText(), run.display_name);
      }
      assert.equal(await page.page.locator('[data-run] .badge', { hasText: 'Failed' }).count(), 1);
      assert.match(await page.page.locator(`[data-run="${fixtures.failed.id}"] .cell.cause`).innerText(),
                   /rank 0 exited with code 3/);
      // The sweep says how many trials it has, and opens to show them.
      const sweepRow = page.page.locator(`[data-run="${fixtures.sweep.id}"]`);
      assert.match(await sweepRow.innerText(), /sweep, 3 trials/);
      await sweepRow.getByRole('button', { name: /show the 3 trials/ }).click();
      await waitForRows(page, [...top.map((r) => r.id), ...fixtures.sweep.trials.map((t) => t.id)]);
      assert.equal(await page.page.locator('[data-run].trial').count(), kSweepQualities.length);
      assert.match(page.page.url(), /[?&]open=/);
      await page.checkAccessible('/runs');
      await sweepRow.getByRole('button', { name: /hide the 3 trials/ }).click();
      await waitForRows(page, top.map((r) => r.id));
      // The screenshot in a fixed order (the fixtures were submitted at once).
      await page.goto('/runs?sort=experiment&dir=asc');
      await waitForRows(page, top.map((r) => r.id));
      await page.screenshot('runs');
    });
  });

  it('works from the keyboard: j/k move, x marks, Enter opens, / searches, focus shows', async () => {
    const { studio, fixtures } = ctx;
    await studio.withPage({}, async (page) => {
      const order = ['failed', 'image', 'ranks', 'signal', 'sweep'].map((n) => fixtures[n]);
      order.sort((a, b) => (a.experiment < b.experiment ? -1 : 1));
      await page.goto('/runs?sort=experiment&dir=asc');
      await waitForRows(page, order.map((r) => r.id));
      const selected = () => page.page.locator('[data-run][aria-selected="true"]').getAttribute('data-run');
      assert.equal(await selected(), order[0].id);
      await page.page.keyboard.press('j');
      await page.page.keyboard.press('j');
      await page.page.keyboard.press('k');
      assert.equal(await selected(), order[1].id);
      await page.page.keyboard.press('x');
      assert.match(page.page.url(), new RegExp(`sel=${order[1].id}`));
      await page.page.keyboard.press('/');
      assert.equal(await page.page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Search runs');
      // Tab moves on with a visible focus ring.
      await page.page.keyboard.press('Tab');
      const outline = await page.page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, 'none');
      await page.page.evaluate(() => document.activeElement.blur());
      await page.page.keyboard.press('Enter');
      await page.page.waitForURL(new RegExp(`/runs/${order[1].id}`));
    });
  });

  it('stays readable on a 1024 px laptop: nothing wider than the window, the failure cause in view', async () => {
    const { studio, fixtures } = ctx;
    await studio.withPage({}, async (page) => {
      await page.page.setViewportSize({ width: 1024, height: 700 });
      const fits = () => page.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
      await page.goto('/runs');
      await waitForRows(page, ['failed', 'image', 'ranks', 'signal', 'sweep'].map((n) => fixtures[n].id));
      assert.ok(await fits(), 'the runs page is wider than 1024 px');
      const cause = await page.page.locator(`[data-run="${fixtures.failed.id}"] .cell.cause`).boundingBox();
      assert.ok(cause && cause.x + 40 < 1024, `the failure cause starts at x=${cause && cause.x}`);
      for (const tab of ['overview', 'logs', 'metrics']) {
        await page.goto(`/runs/${fixtures.failed.id}?tab=${tab}`, { waitFor: 'main h1' });
        assert.ok(await fits(), `the ${tab} tab is wider than 1024 px`);
      }
      await page.goto(`/sweeps/${fixtures.sweep.id}`, { waitFor: 'main h1' });
      assert.ok(await fits(), 'the sweep page is wider than 1024 px');
    });
  });

  it('filters by status, text and experiment from the URL', async () => {
    const { studio, fixtures } = ctx;
    await studio.withPage({}, async (page) => {
      await page.goto('/runs?status=Failed');
      await waitForRows(page, [fixtures.failed.id]);
      assert.equal(await page.page.getByRole('combobox', { name: 'Status' }).inputValue(), 'Failed');

      await page.goto('/runs?q=ui%20image');
      await waitForRows(page, [fixtures.image.id]);
      assert.equal(await page.page.getByRole('searchbox', { name: 'Search runs' }).inputValue(), 'ui image');

      await page.goto('/runs?experiment=ui-ranks');
      await waitForRows(page, [fixtures.ranks.id]);

      // A filter shows a sweep's trials as rows of their own.
      await page.goto('/runs?experiment=ui-sweep');
      await waitForRows(page, [fixtures.sweep.id, ...fixtures.sweep.trials.map((t) => t.id)]);

      // Typing in the search box changes the URL and the rows.
      await page.goto('/runs');
      await page.page.getByRole('searchbox', { name: 'Search runs' }).fill('planted');
      await page.page.waitForURL(/[?&]q=planted/);
      await waitForRows(page, []);
      await page.page.getByRole('searchbox', { name: 'Search runs' }).fill('exited with code 3');
      await waitForRows(page, [fixtures.failed.id]);
    });
  });

  it('shows a failed run\'s cause first, with its log tail and a link to the line', async () => {
    const { studio, fixtures } = ctx;
    const run = fixtures.failed;
    await studio.withPage({}, async (page) => {
      await page.goto(runPage(run, 'overview'), { waitFor: 'section[aria-label="Failure cause"]' });
      const box = page.page.locator('section[aria-label="Failure cause"]');
      const text = await box.innerText();
      assert.match(text, /Failed: rank 0 exited with code 3/);
      assert.match(text, /exit code 3/);
      assert.match(text, /Traceback \(most recent call last\):/);
      assert.match(text, /ValueError: planted failure for the UI tests/);
      assert.equal(await page.page.locator('h1 .badge').innerText(), 'Failed');
      const facts = await page.page.locator('section[aria-label="Facts"]').innerText();
      assert.match(facts, new RegExp(run.id));
      assert.match(facts, /ui-failed/);
      await page.page.waitForSelector('section[aria-label="Status timeline"] .timeline-legend li');
      assert.match(await page.page.locator('.timeline-legend').innerText(), /Running[\s\S]*Failed/);
      await page.checkAccessible('run overview (failed)');
      await page.screenshot('run-overview', { mask: ['dl.facts dd', 'h1'] });

      // "Show this in the log": the logs tab at rank 0, on the failure's last line.
      await box.getByRole('link', { name: 'Show this in the log' }).click();
      await page.page.waitForURL(/tab=logs/);
      const url = new URL(page.page.url());
      assert.equal(url.searchParams.get('rank'), '0');
      assert.equal(url.searchParams.get('find'), 'ValueError: planted failure for the UI tests');
      const current = page.page.locator('.logs [role="listitem"].current');
      await current.waitFor();
      assert.match(await current.locator('.text').innerText(), /ValueError: planted failure/);
    });
  });

  it('shows both ranks\' log lines in time order, and the rank filter hides the other rank', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.ranks;
    const api = await server.api(`/v1/runs/${run.id}/logs`);
    assert.equal(api.status, 200);
    const lines = api.body.lines.filter((l) => l.rank >= 0);
    assert.equal(lines.length, 10);
    await studio.withPage({}, async (page) => {
      await page.goto(runPage(run, 'logs'));
      const rows = page.page.locator('.logs [role="listitem"]');
      await page.page.waitForFunction(() => document.querySelectorAll('.logs [role="listitem"]').length === 10);
      await page.page.getByText('run Completed').waitFor();
      const shown = await rows.evaluateAll((els) => els
        .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
        .map((el) => ({ rank: el.querySelector('.rank').textContent, text: el.querySelector('.text').textContent })));
      // The line's text (the API's "display" form, "[rank N] text", is accepted too).
      assert.equal(shown.length, lines.length);
      shown.forEach((row, i) => {
        assert.equal(row.rank, `r${lines[i].rank}`, `rank of row ${i}`);
        assert.ok(row.text === lines[i].text || row.text === lines[i].display,
                  `row ${i} shows '${row.text}', the API has '${lines[i].text}'`);
      });
      for (const rank of [0, 1]) {
        const own = shown.filter((l) => l.rank === `r${rank}`).map((l) => l.text.replace(/^\[rank \d+\] /, ''));
        assert.deepEqual(own, [0, 1, 2, 3, 4].map((i) => `rank ${rank} says line ${i}`));
      }
      const times = lines.map((l) => l.time);
      assert.deepEqual(times, [...times].sort((a, b) => a - b), 'merged in time order');
      await page.checkAccessible('run logs');
      await page.screenshot('run-logs', { mask: ['h1'] });

      await page.page.getByLabel('rank 1').uncheck();
      await page.page.waitForURL(/[?&]rank=0(&|$)/);
      await page.page.waitForFunction(() => document.querySelectorAll('.logs [role="listitem"]').length === 5);
      assert.deepEqual(await rows.locator('.rank').allInnerTexts(), ['r0', 'r0', 'r0', 'r0', 'r0']);
      assert.equal(await page.page.getByLabel('rank 0').isChecked(), true);
      await page.page.getByLabel('rank 1').check();
      await page.page.waitForFunction(() => document.querySelectorAll('.logs [role="listitem"]').length === 10);
      assert.equal(new URL(page.page.url()).searchParams.get('rank'), null);

      // Opened with ?rank=1: rank 1 alone.
      await page.goto(runPage(run, 'logs', '&rank=1'));
      await page.page.waitForFunction(() => document.querySelectorAll('.logs [role="listitem"]').length === 5);
      assert.deepEqual(await rows.locator('.rank').allInnerTexts(), ['r1', 'r1', 'r1', 'r1', 'r1']);
      assert.equal(await page.page.getByLabel('rank 0').isChecked(), false);
    });
  });

  it('charts a 1,000,000-point metric with its one spike kept and drawn at full zoom-out', async () => {
    const { studio, fixtures } = ctx;
    const run = fixtures.signal;
    await studio.withPage({}, async (page) => {
      await page.goto(runPage(run, 'metrics'), { waitFor: '[data-chart="signal"] canvas' });
      await page.page.waitForFunction(() => window.__kiln && window.__kiln.charts.signal &&
                                            window.__kiln.charts.loss);
      const chart = await page.page.evaluate(() => {
        const c = window.__kiln.charts.signal;
        const xs = Array.from(c.data[0]);
        const ys = Array.from(c.data[1]);
        let at = 0;
        ys.forEach((y, i) => { if (y > ys[at]) at = i; });
        return {
          count: xs.length, max: ys[at], maxX: xs[at], min: Math.min(...ys), firstX: xs[0], lastX: xs[xs.length - 1],
          request: c.request, totals: c.totals, labels: c.labels, range: c.range,
          plotWidth: c.plot.bbox.width / (window.devicePixelRatio || 1),
        };
      });
      // What the chart asked for, and what it holds.
      assert.equal(chart.request.x_min, undefined);
      assert.equal(chart.request.x_max, undefined);
      assert.ok(chart.request.max_points >= 64 && chart.request.max_points <= 4 * 1280, JSON.stringify(chart.request));
      assert.deepEqual(chart.labels, ['signal']);
      assert.equal(chart.totals[0].total, kSignalPoints);
      assert.equal(chart.totals[0].inRange, kSignalPoints);
      assert.ok(chart.count > 100 && chart.count <= chart.request.max_points,
                `${chart.count} points for max_points ${chart.request.max_points}`);
      assert.equal(chart.max, kSpikeValue, 'the spike survives downsampling');
      assert.equal(chart.maxX, kSpikeStep);
      assert.equal(chart.min, 1);
      assert.equal(chart.firstX, 0);
      assert.equal(chart.lastX, kSignalPoints - 1);

      // The canvas: the line along the bottom, and the spike reaching the top at its step.
      const pixels = await seriesPixels(page.page, 'signal', kSeriesColour);
      const drawn = pixels.columns.filter((n) => n > 0).length;
      assert.ok(drawn > 0.9 * pixels.bbox.width, `the series colours ${drawn} of ${pixels.bbox.width} columns`);
      const spikeX = Math.round(await page.page.evaluate((step) => {
        const u = window.__kiln.charts.signal.plot;
        return u.valToPos(step, 'x', true) - u.bbox.left;
      }, kSpikeStep));
      const near = [];
      for (let x = Math.max(0, spikeX - 3); x <= Math.min(pixels.bbox.width - 1, spikeX + 3); x++) {
        if (pixels.tops[x] >= 0) near.push(pixels.tops[x]);
      }
      assert.ok(near.length > 0, `no series pixel near the spike's column ${spikeX}`);
      const highest = Math.min(...near);
      assert.ok(highest < 0.1 * pixels.bbox.height,
                `the spike reaches row ${highest} of ${pixels.bbox.height}: not near the top`);
      // Elsewhere the line stays low: no column far from the spike reaches the top half.
      const far = pixels.tops.filter((top, x) => top >= 0 && Math.abs(x - spikeX) > 6);
      assert.ok(far.every((top) => top > 0.5 * pixels.bbox.height),
                `a column away from the spike is drawn at row ${Math.min(...far)}`);
      await page.checkAccessible('run metrics');
      await page.screenshot('run-metrics', { mask: ['h1'] });

      // Dragging across 10%..40% of the chart reads that range at full detail: no spike.
      const over = page.page.locator('[data-chart="signal"] .u-over');
      const box = await over.boundingBox();
      const y = box.y + box.height / 2;
      await page.page.mouse.move(box.x + box.width * 0.1, y);
      await page.page.mouse.down();
      await page.page.mouse.move(box.x + box.width * 0.25, y, { steps: 5 });
      await page.page.mouse.move(box.x + box.width * 0.4, y, { steps: 5 });
      await page.page.mouse.up();
      await page.page.waitForFunction(() => window.__kiln.charts.signal && window.__kiln.charts.signal.range);
      const zoomed = await page.page.evaluate(() => {
        const c = window.__kiln.charts.signal;
        return { request: c.request, max: Math.max(...c.data[1]), first: c.data[0][0],
                 last: c.data[0][c.data[0].length - 1], inRange: c.totals[0].inRange };
      });
      assert.ok(zoomed.request.x_min > 0 && zoomed.request.x_max < kSpikeStep, JSON.stringify(zoomed.request));
      // The range, and at most the one point either side of it (docs: metric_range.h).
      assert.ok(zoomed.first >= zoomed.request.x_min - 1 && zoomed.last <= zoomed.request.x_max + 1,
                JSON.stringify(zoomed));
      const inside = zoomed.request.x_max - zoomed.request.x_min + 1;
      assert.ok(zoomed.inRange >= inside && zoomed.inRange <= inside + 2, JSON.stringify(zoomed));
      assert.equal(zoomed.max, 1);
      // The zoom is in the URL, so the zoomed view can be shared.
      const shared = new URL(page.page.url()).searchParams.get('z');
      assert.match(shared || '', /^[\d.e+-]+:[\d.e+-]+$/, page.page.url());
      // A double click zooms back out: the spike again.
      await over.dblclick();
      await page.page.waitForFunction(() => window.__kiln.charts.signal && !window.__kiln.charts.signal.range &&
                                            Math.max(...window.__kiln.charts.signal.data[1]) === 100);
    });
  });

  it('shows the outputs: a text file and the logged image', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.image;
    const artifacts = await server.api(`/v1/runs/${run.id}/artifacts`);
    assert.deepEqual(artifacts.body.artifacts.map((a) => a.name), ['outputs/images/sample.png', 'outputs/notes.txt']);
    await studio.withPage({}, async (page) => {
      await page.goto(runPage(run, 'outputs'), { waitFor: 'section[aria-label="Outputs"]' });
      const section = page.page.locator('section[aria-label="Outputs"]');
      assert.match(await section.locator('p.muted').first().innerText(), /^2 files/);
      await section.getByRole('button', { name: 'notes.txt' }).click();
      await page.page.waitForURL(/file=outputs%2Fnotes\.txt/);
      await section.locator('.viewer pre').waitFor();
      assert.equal(await section.locator('.viewer pre').innerText(), 'notes of the image run\n');
      await page.checkAccessible('run outputs');
      await page.screenshot('run-outputs', { mask: ['h1'] });

      await page.goto(runPage(run, 'outputs', '&file=outputs%2Fimages%2Fsample.png'));
      const img = page.page.locator('.viewer img');
      await img.waitFor();
      await page.page.waitForFunction(() => {
        const el = document.querySelector('.viewer img');
        return el && el.complete && el.naturalWidth > 0;
      });
      assert.equal(await img.evaluate((el) => el.naturalWidth), 32);
      assert.match(await img.getAttribute('src'), /^blob:/);
    });
  });

  it('shows the logged image on the overview', async () => {
    const { studio, fixtures } = ctx;
    const run = fixtures.image;
    await studio.withPage({}, async (page) => {
      await page.goto(runPage(run, 'overview'), { waitFor: 'section[aria-label="Facts"]' });
      const img = page.page.locator('section[aria-label="Logged images"] img');
      await img.waitFor({ timeout: 15_000 });
      await page.page.waitForFunction(() => {
        const el = document.querySelector('section[aria-label="Logged images"] img');
        return el && el.complete && el.naturalWidth === 32;
      });
      assert.match(await img.getAttribute('alt'), /sample/);
      assert.equal(await page.page.locator('section[aria-label="Failure cause"]').count(), 0);
      await page.checkAccessible('run overview (image)');
    });
  });

  it('shows the code the run ran, from its snapshot', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.image;
    const snapshot = await server.api(`/v1/snapshots/${run.snapshot_id}`);
    assert.equal(snapshot.status, 200);
    const files = snapshot.body.entries.filter((e) => e.type === 'file').map((e) => e.path).sort();
    assert.deepEqual(files, ['sample.png', 'train.py']);
    await studio.withPage({}, async (page) => {
      await page.goto(runPage(run, 'code'), { waitFor: 'section[aria-label="Code"]' });
      const section = page.page.locator('section[aria-label="Code"]');
      assert.match(await page.page.locator('p.mono').innerText(), new RegExp(run.snapshot_id));
      await section.getByRole('button', { name: 'train.py' }).click();
      await page.page.waitForURL(/file=train\.py/);
      await section.locator('.viewer pre').waitFor();
      const code = await section.locator('.viewer pre').innerText();
      assert.match(code, /run\.log_image\("sample", path="sample\.png"\)/);
      await page.checkAccessible('run code');
      await page.screenshot('run-code', { mask: ['h1', 'p.mono'] });
    });
  });

  it('links a trial to its sweep and a sweep to its trials', async () => {
    const { studio, fixtures } = ctx;
    const trial = fixtures.sweep.trials[0];
    await studio.withPage({}, async (page) => {
      await page.goto(runPage(trial, 'overview'), { waitFor: 'section[aria-label="Facts"]' });
      const link = page.page.locator(`main a[href="/sweeps/${encodeURIComponent(fixtures.sweep.id)}"]`).first();
      assert.match(await link.innerText(), new RegExp(fixtures.sweep.id));
      const params = await page.page.locator('section[aria-label="Parameters and tags"]').innerText();
      assert.match(params, /--quality/);
      await page.goto(runPage(fixtures.sweep, 'overview'), { waitFor: 'section[aria-label="Child runs"]' });
      assert.equal(await page.page.locator('section[aria-label="Child runs"] tbody tr').count(), kSweepQualities.length);
    });
  });
});
