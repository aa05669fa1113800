// Editing runs in Kiln Studio (PATCH /v1/runs/{id}, docs/runs.md "Editing a run"): a member
// changes the name, description and tags and archives and restores a run from its overview,
// each checked against the API; a refused edit shows the server's message, keeps what was
// typed and changes nothing; a viewer sees no edit control and the API refuses a viewer's
// edit; the runs list hides an archived run until "Show archived" is on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isTerminal, startSuite, stopSuite, waitForRows } from './harness.mjs';
import { kSleeperScript, writeProject } from './fixtures.mjs';

const runPage = (run) => `/runs/${encodeURIComponent(run.id)}?tab=overview`;
const runApi = (run) => `/v1/runs/${encodeURIComponent(run.id)}`;
const kAbout = 'section[aria-label="About this run"]';
const kTags = 'section[aria-label="Parameters and tags"]';

// Text that would be markup were it ever shown as HTML.
const kDescription = 'Tried a smaller learning rate.\n  <b>not bold</b> <img src="x" alt="not an image">\nThird line.';
const kArchivedDescription = 'Superseded by a later run.\nKept for its metrics.';

async function submit(server, name, script) {
  const dir = writeProject(server, name, { 'train.py': script });
  return server.kilnOk(['submit', '--source-directory', dir, '--entry-script', 'train.py',
                        '--experiment', `ui-${name}`, '--display-name', `ui ${name}`]);
}

// The runs: `edit` (ended; the member edits it), `archived` (ended, described, tagged and
// archived here through the API) and `sleeper` (running until the suite stops it).
async function prepare(server) {
  const [edit, archived, sleeper] = await Promise.all([
    submit(server, 'edit', 'print("edit me", flush=True)\n'),
    submit(server, 'archived', 'print("archive me", flush=True)\n'),
    submit(server, 'sleeper', kSleeperScript(300)),
  ]);
  await server.waitForRun(edit, isTerminal);
  await server.waitForRun(archived, isTerminal);
  await server.waitForRun(sleeper, 'Running');
  const patched = await server.api(`/v1/runs/${archived}`, {
    method: 'PATCH', body: { description: kArchivedDescription, tags: { stage: 'old' }, archived: true },
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.ok(patched.body.archived_at);
  return { edit: await server.run(edit), archived: patched.body, sleeper: await server.run(sleeper) };
}

// A tag's row in the overview's tags table.
const tagRow = (page, key) => page.page.locator(`${kTags} tr`, {
  has: page.page.locator('th', { hasText: new RegExp(`^${key}$`) }),
});

// Waits until the focused element's text is `text`.
async function waitForFocus(page, text) {
  await page.page.waitForFunction((want) => document.activeElement.textContent.trim() === want, text,
                                  { timeout: 5_000 }).catch(async () => {
    const got = await page.page.evaluate(() => document.activeElement.outerHTML.slice(0, 200));
    throw new Error(`focus is not on '${text}' but on ${got}`);
  });
}

describe('editing and archiving runs', { timeout: 600_000 }, () => {
  const ctx = {};
  before(() => startSuite(ctx, 'edit', prepare), { timeout: 300_000 });
  after(() => stopSuite(ctx), { timeout: 120_000 });

  it('lets a member change the name, description and tags, and archive and restore the run', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.edit;
    const member = await server.token('member');
    await studio.withPage({ token: member }, async (page) => {
      await page.goto(runPage(run), { waitFor: kAbout });
      const about = page.page.locator(kAbout);
      assert.equal(await about.locator('.muted').first().innerText(), 'No description.');

      // Name and description: the form opens with the run's values and the name focused.
      const edit = about.getByRole('button', { name: 'Edit name and description' });
      await edit.click();
      const form = page.page.getByRole('form', { name: 'Edit name and description' });
      const name = form.getByLabel('Name');
      assert.equal(await name.inputValue(), 'ui edit');
      await page.page.waitForFunction((el) => el === document.activeElement, await name.elementHandle());
      await name.fill('smaller lr');
      await form.getByLabel('Description').fill(kDescription);
      await page.checkAccessible('run overview (editing)');
      await form.getByRole('button', { name: 'Save' }).click();
      await page.page.locator('main h1', { hasText: 'smaller lr' }).waitFor();
      await form.waitFor({ state: 'detached' });
      // Shown as text with its lines, never as markup; focus is back on the button.
      const description = about.locator('.description');
      assert.equal(await description.innerText(), kDescription);
      assert.equal(await description.locator('b, img').count(), 0);
      await waitForFocus(page, 'Edit name and description');
      let got = await server.run(run.id);
      assert.equal(got.display_name, 'smaller lr');
      assert.equal(got.description, kDescription);

      // Tags: two added (Enter in the field), one removed.
      const field = page.page.getByLabel('Add tag');
      await field.fill('stage=tested');
      await field.press('Enter');
      await tagRow(page, 'stage').waitFor();
      assert.equal(await field.inputValue(), '');
      await field.fill('owner=ui tests');
      await page.page.locator(kTags).getByRole('button', { name: 'Add' }).click();
      await tagRow(page, 'owner').waitFor();
      assert.equal(await tagRow(page, 'owner').locator('td').first().innerText(), 'ui tests');
      assert.deepEqual((await server.run(run.id)).tags, { stage: 'tested', owner: 'ui tests' });
      await page.page.getByRole('button', { name: 'Remove tag owner' }).click();
      await tagRow(page, 'owner').waitFor({ state: 'detached' });
      await page.page.waitForFunction((el) => el === document.activeElement, await field.elementHandle());
      assert.deepEqual((await server.run(run.id)).tags, { stage: 'tested' });

      // Archive: the badge, the line saying so, and the same button (still focused) restores.
      await about.getByRole('button', { name: 'Archive run' }).click();
      await page.page.locator('main h1 .badge.archived').waitFor();
      assert.match(await about.locator('.archived-note').innerText(), /^Archived .*hidden from the runs list/);
      await about.getByRole('button', { name: 'Restore run' }).waitFor();
      await waitForFocus(page, 'Restore run');
      got = await server.run(run.id);
      assert.ok(got.archived_at, 'archived_at is not set');
      const listed = await server.runs();
      assert.ok(!listed.some((r) => r.id === run.id), 'GET /v1/runs lists the archived run');
      await page.checkAccessible('run overview (archived, member)');

      await about.getByRole('button', { name: 'Restore run' }).click();
      await page.page.locator('main h1 .badge.archived').waitFor({ state: 'detached' });
      assert.equal(await about.locator('.archived-note').count(), 0);
      got = await server.run(run.id);
      assert.equal(got.archived_at, null);
      assert.equal(got.display_name, 'smaller lr');
      assert.deepEqual(got.tags, { stage: 'tested' });
    });
  });

  it('shows the server\'s message when an edit is refused, keeps what was typed, and changes nothing', async () => {
    const { server, studio, fixtures } = ctx;
    const run = fixtures.edit;
    const member = await server.token('member');
    const before = await server.run(run.id);
    // What the server says to the same edits.
    const badTag = await server.api(runApi(run), {
      token: member, method: 'PATCH', body: { tags: { 'bad key': 'x' } },
    });
    assert.equal(badTag.status, 400);
    const longName = 'n'.repeat(300);
    const badName = await server.api(runApi(run), {
      token: member, method: 'PATCH', body: { display_name: longName, description: 'kept after a refusal' },
    });
    assert.equal(badName.status, 400);
    assert.match(badName.body.error.message, /display_name/);

    await studio.withPage({ token: member, allow: [{ status: 400, url: /\/v1\/runs\// }] }, async (page) => {
      await page.goto(runPage(run), { waitFor: kAbout });
      const field = page.page.getByLabel('Add tag');
      await field.fill('bad key=x');
      await field.press('Enter');
      const tagError = page.page.locator(`${kTags} [role="alert"]`);
      await tagError.waitFor();
      assert.equal(await tagError.innerText(), badTag.body.error.message);
      assert.match(await tagError.innerText(), /'bad key'/);
      assert.equal(await field.inputValue(), 'bad key=x');
      assert.equal(await tagRow(page, 'bad key').count(), 0);

      const about = page.page.locator(kAbout);
      await about.getByRole('button', { name: 'Edit name and description' }).click();
      const form = page.page.getByRole('form', { name: 'Edit name and description' });
      await form.getByLabel('Name').fill(longName);
      await form.getByLabel('Description').fill('kept after a refusal');
      await form.getByRole('button', { name: 'Save' }).click();
      const formError = form.getByRole('alert');
      await formError.waitFor();
      assert.equal(await formError.innerText(), badName.body.error.message);
      assert.equal(await form.getByLabel('Name').inputValue(), longName);
      assert.equal(await form.getByLabel('Description').inputValue(), 'kept after a refusal');
      await page.checkAccessible('run overview (refused edits)');

      // Discard closes the form; the run is as it was.
      await form.getByRole('button', { name: 'Discard' }).click();
      await form.waitFor({ state: 'detached' });
      await waitForFocus(page, 'Edit name and description');
      assert.ok((await page.page.locator('main h1').innerText()).startsWith(before.display_name));
    });
    const after = await server.run(run.id);
    for (const key of ['display_name', 'description', 'tags', 'archived_at']) {
      assert.deepEqual(after[key], before[key], key);
    }
  });

  it('shows a viewer the description and the archived mark but no edit control; the API refuses with 403', async () => {
    const { server, studio, fixtures } = ctx;
    const viewer = await server.token('viewer');
    await studio.withPage({ token: viewer }, async (page) => {
      for (const run of [fixtures.archived, fixtures.edit]) {
        await page.goto(runPage(run), { waitFor: kAbout });
        await page.page.getByText('ui-viewer (viewer)').waitFor();
        const main = page.page.locator('main');
        for (const name of ['Edit name and description', 'Archive run', 'Restore run', 'Add', /^Remove tag/]) {
          assert.equal(await main.getByRole('button', { name }).count(), 0, `a viewer sees '${name}'`);
        }
        assert.equal(await main.locator('input, textarea, form').count(), 0);
      }
      // The archived run, as the viewer sees it (the last page was the other run).
      await page.goto(runPage(fixtures.archived), { waitFor: kAbout });
      await page.page.getByText('ui-viewer (viewer)').waitFor();
      const about = page.page.locator(kAbout);
      assert.equal(await about.locator('.description').innerText(), kArchivedDescription);
      assert.equal(await page.page.locator('main h1 .badge.archived').innerText(), 'Archived');
      assert.match(await about.locator('.archived-note').innerText(), /^Archived /);
      assert.equal(await tagRow(page, 'stage').locator('td').innerText(), 'old');
      await page.checkAccessible('run overview (archived, viewer)');
    });
    const before = await server.run(fixtures.archived.id);
    for (const body of [{ description: 'a viewer tried' }, { archived: false }, { tags: { viewer: 'was here' } }]) {
      const refused = await server.api(runApi(fixtures.archived), { token: viewer, method: 'PATCH', body });
      assert.equal(refused.status, 403, JSON.stringify(body));
      assert.equal(refused.body.error.code, 'PERMISSION_DENIED');
      assert.match(refused.body.error.message, /member/);
    }
    assert.deepEqual(await server.run(fixtures.archived.id), before);
  });

  it('offers Archive only once a run has ended; the API refuses to archive a running one with 409', async () => {
    const { server, studio, fixtures } = ctx;
    const member = await server.token('member');
    await studio.withPage({ token: member }, async (page) => {
      await page.goto(runPage(fixtures.sleeper), { waitFor: kAbout });
      const about = page.page.locator(kAbout);
      await about.getByRole('button', { name: 'Edit name and description' }).waitFor();
      assert.equal(await page.page.locator('main h1 .badge').first().innerText(), 'Running');
      assert.equal(await about.getByRole('button', { name: /^(Archive|Restore) run$/ }).count(), 0);
    });
    const refused = await server.api(runApi(fixtures.sleeper), {
      token: member, method: 'PATCH', body: { archived: true },
    });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'FAILED_PRECONDITION');
    assert.equal((await server.run(fixtures.sleeper.id)).archived_at, null);
  });

  it('hides an archived run from the runs list until "Show archived" is on, and marks it', async () => {
    const { server, studio, fixtures } = ctx;
    const shown = [fixtures.edit.id, fixtures.sleeper.id];
    const all = [...shown, fixtures.archived.id];
    assert.deepEqual((await server.runs()).map((r) => r.id).sort(), [...shown].sort());
    assert.deepEqual((await server.runs('&archived=any')).map((r) => r.id).sort(), [...all].sort());
    await studio.withPage({}, async (page) => {
      await page.goto('/runs');
      await waitForRows(page, shown);
      const toggle = page.page.getByRole('checkbox', { name: 'Show archived' });
      assert.equal(await toggle.isChecked(), false);
      await toggle.check();
      await page.page.waitForURL(/[?&]archived=any(&|$)/);
      await waitForRows(page, all);
      const row = page.page.locator(`[role="row"][data-run="${fixtures.archived.id}"]`);
      assert.match(await row.getAttribute('class'), /\barchived\b/);
      assert.equal(await row.locator('.cell.name .badge.archived').innerText(), 'Archived');
      assert.equal(await page.page.locator('[role="row"][data-run].archived').count(), 1);
      await page.checkAccessible('runs (archived shown)');

      // The URL keeps it; turning it off hides the run again.
      await page.page.reload();
      await waitForRows(page, all);
      assert.equal(await toggle.isChecked(), true);
      await toggle.uncheck();
      await page.page.waitForURL((url) => !url.searchParams.has('archived'));
      await waitForRows(page, shown);
    });
  });
});
