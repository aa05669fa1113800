// Deleting runs in Kiln Studio (DELETE /v1/runs/{id}, docs/runs.md "Deleting runs"): a member
// deletes an ended run and a sweep with its trials from the overview after confirming, each
// checked against the API and the runs list, which says once what was deleted; Cancel and
// Escape delete nothing; a refused delete (403, 409, no answer) shows its message and leaves
// the page as it was; a viewer sees no Delete and the API refuses a viewer's delete; a
// running run offers no Delete and the API refuses it with 409.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isTerminal, startSuite, stopSuite, waitForRows } from './harness.mjs';
import { kSleeperScript, kSweepQualities, makeFixtures, writeProject } from './fixtures.mjs';

const runPage = (run) => `/runs/${encodeURIComponent(run.id)}?tab=overview`;
const runApi = (run) => `/v1/runs/${encodeURIComponent(run.id)}`;
const kAbout = 'section[aria-label="About this run"]';
const kNotice = 'main .notice[role="status"]';

async function submit(server, name, script) {
  const dir = writeProject(server, name, { 'train.py': script });
  return server.kilnOk(['submit', '--source-directory', dir, '--entry-script', 'train.py',
                        '--experiment', `ui-${name}`, '--display-name', `ui ${name}`]);
}

// The runs: `doomed` (ended; the member deletes it), `kept` (ended; every delete of it is
// canceled or refused), `sleeper` (running until the suite stops it) and `sweep` (ended,
// with its trials).
async function prepare(server) {
  const [doomed, kept, sleeper, fixtures] = await Promise.all([
    submit(server, 'doomed', 'print("delete me", flush=True)\n'),
    submit(server, 'kept', 'print("keep me", flush=True)\n'),
    submit(server, 'sleeper', kSleeperScript(300)),
    makeFixtures(server, ['sweep']),
  ]);
  await server.waitForRun(doomed, isTerminal);
  await server.waitForRun(kept, isTerminal);
  await server.waitForRun(sleeper, 'Running');
  return { doomed: await server.run(doomed), kept: await server.run(kept), sleeper: await server.run(sleeper),
           sweep: fixtures.sweep };
}

// The confirmation step on the overview.
const confirmation = (page) => page.page.locator(`${kAbout} [role="group"]`);

// Waits until the focused element's text is `text`.
async function waitForFocus(page, text) {
  await page.page.waitForFunction((want) => document.activeElement.textContent.trim() === want, text,
                                  { timeout: 5_000 }).catch(async () => {
    const got = await page.page.evaluate(() => document.activeElement.outerHTML.slice(0, 200));
    throw new Error(`focus is not on '${text}' but on ${got}`);
  });
}

// The ids the runs table shows with no filter: the runs that are not trials.
async function listedIds(server) {
  return (await server.runs()).filter((r) => !r.parent_id).map((r) => r.id);
}

async function assertGone(server, id) {
  const got = await server.api(`/v1/runs/${encodeURIComponent(id)}`);
  assert.equal(got.status, 404, `GET ${id}: ${JSON.stringify(got.body)}`);
  assert.equal(got.body.error.code, 'NOT_FOUND');
}

// The run as the server has it, less what changes by itself.
async function snapshot(server, run) {
  const got = await server.run(run.id);
  return { ...got, metrics: undefined };
}

describe('deleting runs', { timeout: 600_000 }, () => {
  const ctx = {};
  before(() => startSuite(ctx, 'delete', prepare), { timeout: 300_000 });
  after(() => stopSuite(ctx), { timeout: 120_000 });

  it('lets a member delete an ended run after confirming; the API and the runs list no longer have it', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.doomed;
    const member = await server.token('member');
    await studio.withPage({ token: member }, async (page) => {
      await page.goto(runPage(run), { waitFor: kAbout });
      const about = page.page.locator(kAbout);
      await about.getByRole('button', { name: 'Delete run' }).click();

      // It asks first, names the run, and starts on Cancel.
      const group = confirmation(page);
      await group.waitFor();
      const question = `Delete run “ui doomed” (${run.id}) for good?`;
      assert.equal(await group.locator('#delete-question').innerText(), question);
      assert.equal(await page.page.getByRole('group', { name: question }).count(), 1);
      assert.match(await group.innerText(), /cannot be undone/);
      await waitForFocus(page, 'Cancel');
      // The other controls are gone while it asks.
      assert.equal(await about.getByRole('button', { name: /^(Edit name and description|Archive run|Delete run)$/ }).count(), 0);
      await page.checkAccessible('run overview (confirming delete)');
      assert.equal((await server.run(run.id)).id, run.id);

      const reply = page.page.waitForResponse((r) => r.request().method() === 'DELETE');
      await group.getByRole('button', { name: 'Delete for good' }).click();
      const deleted = await (await reply).json();
      assert.deepEqual(deleted.deleted.map((r) => r.id), [run.id]);

      // The runs list, saying what was deleted, with focus on that line.
      await page.page.waitForURL((url) => url.pathname === '/runs' && url.search === '');
      const notice = page.page.locator(kNotice);
      await notice.waitFor();
      assert.equal(await notice.innerText(), `Deleted run “ui doomed” (${run.id}).`);
      await page.page.waitForFunction(() => document.activeElement.matches('.notice'));
      await assertGone(server, run.id);
      assert.ok(!(await server.runs('&archived=any')).some((r) => r.id === run.id), 'GET /v1/runs lists it');
      const listed = await listedIds(server);
      assert.ok(listed.includes(fixtures.kept.id));
      await waitForRows(page, listed);
      await page.checkAccessible('runs (after a delete)');

      // Once: a reload shows the list without it.
      await page.page.reload();
      await waitForRows(page, listed);
      assert.equal(await page.page.locator(kNotice).count(), 0);
    });
  });

  it('deletes a sweep with its trials, trials first, and says how many', async () => {
    const { server, studio, fixtures } = ctx;
    const { sweep } = fixtures;
    const trialIds = sweep.trials.map((t) => t.id);
    assert.equal(trialIds.length, kSweepQualities.length);
    const member = await server.token('member');
    await studio.withPage({ token: member }, async (page) => {
      await page.goto(runPage(sweep), { waitFor: kAbout });
      await page.page.locator(kAbout).getByRole('button', { name: 'Delete run' }).click();
      const group = confirmation(page);
      const question = `Delete sweep “ui sweep” (${sweep.id}) and its ${trialIds.length} trials for good?`;
      await group.locator('#delete-question', { hasText: question }).waitFor();
      assert.match(await group.innerText(), /and its trials’, go/);

      const reply = page.page.waitForResponse((r) => r.request().method() === 'DELETE');
      await group.getByRole('button', { name: 'Delete for good' }).click();
      const deleted = (await (await reply).json()).deleted.map((r) => r.id);
      assert.deepEqual(deleted.slice(0, -1).sort(), [...trialIds].sort());
      assert.equal(deleted[deleted.length - 1], sweep.id);

      await page.page.waitForURL((url) => url.pathname === '/runs');
      const notice = page.page.locator(kNotice);
      await notice.waitFor();
      assert.equal(await notice.innerText(),
                   `Deleted sweep “ui sweep” (${sweep.id}) and its ${trialIds.length} trials.`);
      for (const id of [sweep.id, ...trialIds]) await assertGone(server, id);
      const all = (await server.runs('&archived=any')).map((r) => r.id);
      assert.ok(![sweep.id, ...trialIds].some((id) => all.includes(id)), 'GET /v1/runs lists the sweep or a trial');
      await waitForRows(page, await listedIds(server));
    });
  });

  it('deletes nothing on Cancel or Escape, and gives focus back to Delete run', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.kept;
    const member = await server.token('member');
    const before = await snapshot(server, run);
    await studio.withPage({ token: member }, async (page) => {
      const deletes = [];
      page.page.on('request', (r) => { if (r.method() === 'DELETE') deletes.push(r.url()); });
      await page.goto(runPage(run), { waitFor: kAbout });
      const about = page.page.locator(kAbout);
      const group = confirmation(page);

      await about.getByRole('button', { name: 'Delete run' }).click();
      await group.getByRole('button', { name: 'Cancel' }).click();
      await group.waitFor({ state: 'detached' });
      await waitForFocus(page, 'Delete run');

      // By keyboard: Enter opens it (focus on Cancel), Escape closes it, Enter on Cancel too.
      await page.page.keyboard.press('Enter');
      await group.waitFor();
      await waitForFocus(page, 'Cancel');
      await page.page.keyboard.press('Escape');
      await group.waitFor({ state: 'detached' });
      await waitForFocus(page, 'Delete run');
      await page.page.keyboard.press('Enter');
      await waitForFocus(page, 'Cancel');
      await page.page.keyboard.press('Enter');
      await group.waitFor({ state: 'detached' });
      await waitForFocus(page, 'Delete run');

      assert.deepEqual(deletes, []);
      assert.equal(page.page.url(), page.url(runPage(run)));
    });
    assert.deepEqual(await snapshot(server, run), before);
  });

  it('shows the server\'s message when a delete is refused and keeps the page as it was', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.kept;
    const viewer = await server.token('viewer');
    const member = await server.token('member');
    const before = await snapshot(server, run);
    // What the server says to a viewer's delete, and to a delete of a run that has not ended.
    const forbidden = await server.api(runApi(run), { token: viewer, method: 'DELETE' });
    assert.equal(forbidden.status, 403);
    const running = await server.api(runApi(fixtures.sleeper), { token: member, method: 'DELETE' });
    assert.equal(running.status, 409);

    const api = (url) => url.pathname === runApi(run);
    await studio.withPage({ token: viewer, allow: [{ status: 403, url: /\/v1\/runs\// },
                                                   { status: 409, url: /\/v1\/runs\// },
                                                   { failed: /\/v1\/runs\// }] }, async (page) => {
      // A token's role never changes, so the viewer's page is told it is a member's: it offers
      // Delete, and the server itself refuses it.
      await page.page.route('**/v1/token', async (route) => {
        const real = await route.fetch();
        route.fulfill({ response: real, json: { ...(await real.json()), role: 'member' } });
      });
      await page.goto(runPage(run), { waitFor: kAbout });
      const about = page.page.locator(kAbout);
      const heading = await page.page.locator('main h1').innerText();
      const group = confirmation(page);
      const refusedWith = async (message) => {
        await about.getByRole('button', { name: 'Delete run' }).click();
        await group.getByRole('button', { name: 'Delete for good' }).click();
        const alert = group.getByRole('alert');
        await alert.waitFor();
        assert.equal(await alert.innerText(), message);
        // Still asking, on the same page, the run as it was.
        assert.equal(page.page.url(), page.url(runPage(run)));
        assert.equal(await page.page.locator('main h1').innerText(), heading);
        await group.getByRole('button', { name: 'Delete for good' }).waitFor();
        await page.checkAccessible('run overview (delete refused)');
        await group.getByRole('button', { name: 'Cancel' }).click();
        await group.waitFor({ state: 'detached' });
      };

      await refusedWith(forbidden.body.error.message);
      assert.match(forbidden.body.error.message, /member/);

      // 409, as the server answers a run that has not ended (this one has, so it is answered here).
      await page.page.route(api, (route) => (route.request().method() === 'DELETE'
        ? route.fulfill({ status: 409, json: running.body }) : route.continue()));
      await refusedWith(running.body.error.message);
      assert.equal(running.body.error.code, 'FAILED_PRECONDITION');
      await page.page.unroute(api);

      // No answer at all.
      await page.page.route(api, (route) => (route.request().method() === 'DELETE'
        ? route.abort('connectionrefused') : route.continue()));
      await refusedWith('Could not reach the server: Failed to fetch');
    });
    assert.deepEqual(await snapshot(server, run), before);
  });

  it('shows a viewer no Delete; the API refuses a viewer\'s delete with 403', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.kept;
    const viewer = await server.token('viewer');
    await studio.withPage({ token: viewer }, async (page) => {
      await page.goto(runPage(run), { waitFor: kAbout });
      await page.page.getByText('ui-viewer (viewer)').waitFor();
      assert.equal(await page.page.locator('main').getByRole('button', { name: /Delete/ }).count(), 0);
    });
    const refused = await server.api(runApi(run), { token: viewer, method: 'DELETE' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'PERMISSION_DENIED');
    assert.match(refused.body.error.message, /member/);
    assert.equal((await server.run(run.id)).id, run.id);
  });

  it('offers no Delete on a running run; the API refuses to delete it with 409 and removes nothing', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.sleeper;
    const member = await server.token('member');
    await studio.withPage({ token: member }, async (page) => {
      await page.goto(runPage(run), { waitFor: kAbout });
      const about = page.page.locator(kAbout);
      await about.getByRole('button', { name: 'Edit name and description' }).waitFor();
      assert.equal(await page.page.locator('main h1 .badge').first().innerText(), 'Running');
      assert.equal(await page.page.locator('main').getByRole('button', { name: /^Delete/ }).count(), 0);
    });
    const refused = await server.api(runApi(run), { token: member, method: 'DELETE' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'FAILED_PRECONDITION');
    assert.ok(refused.body.error.message.length > 0);
    const still = await server.run(run.id);
    assert.ok(!isTerminal(still.status), `the sleeper is ${still.status}`);
  });
});
