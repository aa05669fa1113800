// The sweep, compare, models and compute pages: each shows what the API holds, with no
// console error, no failed request, no unexpected HTTP error and no serious accessibility
// problem.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSuite, stopSuite } from './harness.mjs';
import { kSweepQualities, makeFixtures } from './fixtures.mjs';

const kModel = 'ui-model';

// Waits for the page's reads to settle (no request for 500 ms, 10 s at most: a page that
// polls may never be idle for long).
async function settle(page) {
  await page.page.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => {});
}

describe('sweep, compare, models and compute pages', { timeout: 600_000 }, () => {
  const ctx = {};
  before(() => startSuite(ctx, 'sections', async (server) => {
    const runs = await makeFixtures(server, ['sweep', 'signal']);
    await server.kilnOk(['model', 'register', kModel, '--run', runs.signal.id, '--path', 'outputs/model.pt',
                         '--tag', 'stage=test', '--description', 'registered by the UI tests']);
    return runs;
  }), { timeout: 400_000 });
  after(() => stopSuite(ctx), { timeout: 120_000 });

  it('shows a sweep', async () => {
    const { studio, fixtures } = ctx;
    const sweep = fixtures.sweep;
    assert.equal(sweep.trials.length, kSweepQualities.length);
    await studio.withPage({}, async (page) => {
      await page.goto(`/sweeps/${encodeURIComponent(sweep.id)}`, { waitFor: 'main h1' });
      await settle(page);
      // The trials, best first, each with its --quality and best score.
      const rows = page.page.locator('section[aria-label="Trials"] tbody tr');
      assert.equal(await rows.count(), kSweepQualities.length);
      const cells = async (row) => (await rows.nth(row).locator('td').allInnerTexts()).map((t) => t.trim());
      const best = await cells(0);
      assert.equal(best[3], '0.9', best.join(' | '));
      assert.equal(best[4], '0.9', best.join(' | '));
      assert.equal(best[2], 'Completed');
      const qualities = [];
      for (let i = 0; i < kSweepQualities.length; i++) qualities.push(Number((await cells(i))[3]));
      assert.deepEqual(qualities, [...kSweepQualities].sort((x, y) => y - x));
      // Every trial's curve of the primary metric on one chart.
      await page.page.waitForFunction(() => window.__kiln.charts.trials &&
                                            window.__kiln.charts.trials.labels.length === 3);
      // Parallel coordinates drawn; a brush along the score axis keeps only the best trial.
      const canvas = page.page.locator('section[aria-label="Parallel coordinates"] canvas');
      const painted = await canvas.evaluate((c) => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
        return n;
      });
      assert.ok(painted > 1000, `parallel coordinates painted ${painted} pixels`);
      const box = await canvas.boundingBox();
      const x = box.x + box.width - 60; // the last axis: the objective
      const plotTop = box.y + 28;
      const plotHeight = 320 - 28 - 24;
      await page.page.mouse.move(x, plotTop - 4);
      await page.page.mouse.down();
      await page.page.mouse.move(x, plotTop + plotHeight * 0.2, { steps: 4 });
      await page.page.mouse.move(x, plotTop + plotHeight * 0.3, { steps: 4 });
      await page.page.mouse.up();
      await page.page.getByText(`1 of ${kSweepQualities.length} kept`).waitFor();
      assert.match(page.page.url(), /brush=/);
      await page.checkAccessible('sweep');
      await page.screenshot('sweep', { mask: ['h1'] });
    });
  });

  it('compares two runs', async () => {
    const { studio, fixtures } = ctx;
    const [a, b] = fixtures.sweep.trials;
    await studio.withPage({}, async (page) => {
      await page.goto(`/compare?runs=${encodeURIComponent(a.id)},${encodeURIComponent(b.id)}`, { waitFor: 'main h1' });
      await settle(page);
      // Their --quality side by side, marked as differing; the score chart with both.
      const quality = page.page.locator('tr[data-row="--quality"]');
      assert.match(await quality.getAttribute('class'), /diff/);
      const values = (await quality.locator('td').allInnerTexts()).slice(1).map((t) => Number(t));
      const params = [a, b].map((run) => Number(run.params.find((p) => p.name === '--quality').value));
      assert.deepEqual(values, params);
      await page.page.locator('section[aria-label="Curves"]').scrollIntoViewIfNeeded();
      await page.page.waitForFunction(() => window.__kiln.charts.score &&
                                            window.__kiln.charts.score.labels.length === 2);
      // The same snapshot: the code is the same.
      await page.page.getByText('Both ran the same snapshot').waitFor();
      await page.checkAccessible('compare');
      await page.screenshot('compare');
    });
  });

  it('lists the models and shows one', async () => {
    const { studio, server } = ctx;
    const listed = await server.api('/v1/models');
    assert.equal(listed.status, 200);
    assert.ok(JSON.stringify(listed.body).includes(kModel), JSON.stringify(listed.body));
    await studio.withPage({}, async (page) => {
      await page.goto('/models', { waitFor: 'main h1' });
      await settle(page);
      assert.equal(await page.page.locator('nav[aria-label="Sections"] a[aria-current="page"]').innerText(), 'Models');
      const row = page.page.locator('table.data tbody tr', { hasText: kModel });
      assert.equal(await row.count(), 1);
      const cells = (await row.locator('td').allInnerTexts()).map((t) => t.trim());
      assert.equal(cells[1], '1');
      await page.checkAccessible('models');
      await page.screenshot('models');

      await page.goto(`/models/${kModel}`, { waitFor: 'main h1' });
      await settle(page);
      const version = page.page.locator('section[aria-label="ui-model version 1"]');
      const text = await version.innerText();
      assert.match(text, /registered by the UI tests/);
      assert.match(text, /stage=test/);
      assert.equal(await version.locator(`a[href="/runs/${ctx.fixtures.signal.id}"]`).count(), 1);
      await page.checkAccessible('model');
    });
  });

  it('shows the compute targets', async () => {
    const { studio } = ctx;
    await studio.withPage({}, async (page) => {
      await page.goto('/compute', { waitFor: 'main h1' });
      await settle(page);
      assert.equal(await page.page.locator('nav[aria-label="Sections"] a[aria-current="page"]').innerText(), 'Compute');
      const cores = page.page.locator('section[aria-label="local cores"]');
      assert.match(await cores.innerText(), /cores: 8 \(set\)/);
      assert.match(await cores.innerText(), /0 used, 8 free/);
      await page.checkAccessible('compute');
      await page.screenshot('compute');
    });
  });
});
