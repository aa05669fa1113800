// Signing in and what each role may do, and the security headers of every reply.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSuite, stopSuite } from './harness.mjs';
import { kSleeperScript, writeProject } from './fixtures.mjs';

const k401 = { status: 401, url: /\/v1\/token$/ };

describe('sign-in, roles and headers', { timeout: 600_000 }, () => {
  const ctx = {};
  before(() => startSuite(ctx, 'security', async (server) => {
    const dir = writeProject(server, 'sleeper', { 'train.py': kSleeperScript(300) });
    const id = await server.kilnOk(['submit', '--source-directory', dir, '--entry-script', 'train.py',
                                    '--experiment', 'ui-sleeper']);
    await server.waitForRun(id, 'Running');
    return { sleeper: id };
  }), { timeout: 300_000 });
  after(() => stopSuite(ctx), { timeout: 120_000 });

  it('sends a strict CSP, X-Frame-Options DENY and nosniff with the page, its assets and the API', async () => {
    const { server } = ctx;
    const page = await server.api('/', { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /^text\/html/);
    const csp = page.headers['content-security-policy'];
    assert.ok(csp, 'no Content-Security-Policy on /');
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.doesNotMatch(csp, /unsafe-eval/);
    assert.match(csp, /(^|;)\s*script-src 'self'\s*(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.doesNotMatch(page.body, /<script>|<script(?![^>]*\bsrc=)[^>]*>/, 'an inline script in index.html');
    assert.doesNotMatch(page.body, /\son[a-z]+=/i, 'an inline event handler in index.html');

    // Every page path of the UI gets the same page and policy.
    for (const path of ['/runs', `/runs/${ctx.fixtures.sleeper}?tab=logs`, '/sweeps/x', '/compare?runs=a,b',
                        '/models', '/models/m', '/compute', '/login']) {
      const got = await server.api(path, { token: null });
      assert.equal(got.status, 200, path);
      assert.equal(got.body, page.body, path);
      assert.equal(got.headers['content-security-policy'], csp, path);
      assert.equal(got.headers['x-frame-options'], 'DENY', path);
    }

    // Its script and style sheet.
    const assets = [...page.body.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), assets.join(' '));
    for (const asset of assets) {
      const got = await server.api(asset, { token: null });
      assert.equal(got.status, 200, asset);
      assert.match(got.headers['content-type'], asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      assert.equal(got.headers['x-content-type-options'], 'nosniff', asset);
      assert.equal(got.headers['x-frame-options'], 'DENY', asset);
    }

    // API replies, refusals included: nosniff, never framed, nothing in them runs.
    for (const [path, token, status] of [['/v1/health', null, 200], ['/v1/runs', null, 401],
                                         ['/v1/runs', undefined, 200], ['/v1/runs/nope', undefined, 404]]) {
      const got = await server.api(path, { token });
      assert.equal(got.status, status, path);
      assert.equal(got.headers['x-content-type-options'], 'nosniff', path);
      assert.equal(got.headers['x-frame-options'], 'DENY', path);
      assert.match(got.headers['content-security-policy'] || '', /sandbox/, path);
    }
  });

  it('shows the login page without a token, and refuses a wrong one', async () => {
    const { studio, server } = ctx;
    await studio.withPage({ token: null, allow: [k401] }, async (page) => {
      await page.goto('/', { waitFor: '#token' });
      assert.equal(await page.page.locator('#token').getAttribute('type'), 'password');
      assert.equal(await page.page.locator('nav[aria-label="Sections"]').count(), 0);
      await page.checkAccessible('login');
      await page.screenshot('login');

      const good = await server.token('viewer');
      const wrong = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0');
      await page.page.fill('#token', wrong);
      await page.page.getByRole('button', { name: 'Sign in' }).click();
      const alert = page.page.getByRole('alert');
      await alert.waitFor();
      assert.match(await alert.innerText(), /is wrong/);
      assert.equal(await page.page.evaluate(() => sessionStorage.getItem('kiln.token')), null);
      assert.equal(await page.page.locator('#token').count(), 1);
      assert.equal(await page.page.locator('nav[aria-label="Sections"]').count(), 0);
      await page.checkAccessible('login with an error');

      // Not a token at all.
      await page.page.fill('#token', 'garbage');
      await page.page.getByRole('button', { name: 'Sign in' }).click();
      await page.page.getByRole('alert').filter({ hasText: 'malformed' }).waitFor();
    });
  });

  it('signs in with a token kept in sessionStorage only, and signs out', async () => {
    const { studio, server } = ctx;
    const viewer = await server.token('viewer');
    await studio.withPage({ token: null }, async (page) => {
      const sent = [];
      page.page.on('request', (request) => {
        if (request.url().includes('/v1/')) sent.push({ url: request.url(), auth: request.headers().authorization });
      });
      await page.goto('/runs', { waitFor: '#token' });
      await page.signIn(viewer);
      await page.page.getByText('ui-viewer (viewer)').waitFor();
      assert.equal(await page.page.evaluate(() => sessionStorage.getItem('kiln.token')), viewer);
      assert.equal(await page.page.evaluate(() => localStorage.length), 0);
      assert.deepEqual(await page.context.cookies(), []);
      await page.page.waitForSelector('[role="row"][data-run]');
      assert.ok(sent.length > 0);
      for (const request of sent) {
        assert.equal(request.auth, `Bearer ${viewer}`, request.url);
        assert.ok(!request.url.includes(viewer), `the token is in a URL: ${request.url}`);
      }
      // A reload keeps the tab signed in.
      await page.page.reload();
      await page.page.waitForSelector('nav[aria-label="Sections"]');
      await page.page.getByRole('button', { name: 'Sign out' }).click();
      await page.page.waitForSelector('#token');
      assert.equal(await page.page.evaluate(() => sessionStorage.getItem('kiln.token')), null);
    });
  });

  it('shows a viewer no Cancel button, and the API refuses a viewer\'s cancel with 403', async () => {
    const { studio, server, fixtures } = ctx;
    const viewer = await server.token('viewer');
    await studio.withPage({ token: viewer }, async (page) => {
      await page.goto(`/runs/${fixtures.sleeper}`, { waitFor: 'section[aria-label="Facts"]' });
      await page.page.getByText('ui-viewer (viewer)').waitFor();
      assert.equal(await page.page.locator('h1 .badge').innerText(), 'Running');
      assert.equal(await page.page.getByRole('button', { name: 'Cancel run' }).count(), 0);
      await page.checkAccessible('run overview (running, viewer)');
    });
    const refused = await server.api(`/v1/runs/${fixtures.sleeper}/transitions`, {
      token: viewer, method: 'POST', body: { to: 'CancelRequested', detail: 'a viewer tried' },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'PERMISSION_DENIED');
    assert.match(refused.body.error.message, /member/);
    assert.equal((await server.run(fixtures.sleeper)).status, 'Running');
  });

  it('lets a member cancel a running run from its page', async () => {
    const { studio, server, fixtures } = ctx;
    const member = await server.token('member');
    await studio.withPage({ token: member }, async (page) => {
      await page.goto(`/runs/${fixtures.sleeper}`, { waitFor: 'section[aria-label="Facts"]' });
      const cancel = page.page.getByRole('button', { name: 'Cancel run' });
      await cancel.waitFor();
      const dialogs = [];
      page.page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        dialog.accept();
      });
      await cancel.click();
      await server.waitForRun(fixtures.sleeper, 'Canceled', { timeoutMs: 60_000 });
      assert.deepEqual(dialogs, [`Cancel run ${fixtures.sleeper}?`]);
      await page.page.waitForFunction(() => document.querySelector('h1 .badge').textContent === 'Canceled',
                                      null, { timeout: 30_000 });
      assert.equal(await page.page.getByRole('button', { name: 'Cancel run' }).count(), 0);
    });
    const history = await server.api(`/v1/runs/${fixtures.sleeper}/history`);
    assert.ok(history.body.history.some((h) => h.status === 'CancelRequested' && /Kiln Studio/.test(h.detail || '')),
              JSON.stringify(history.body.history));
  });

  it('goes back to the login page, saying why, when the token is revoked', async () => {
    const { studio, server } = ctx;
    const secret = await server.createToken('ui-revoked', 'viewer');
    await studio.withPage({ token: secret, allow: [{ status: 401 }] }, async (page) => {
      await page.goto('/runs', { waitFor: '[role="row"][data-run]' });
      await server.revokeToken(secret);
      await page.page.reload();
      await page.page.waitForSelector('#token');
      assert.match(await page.page.getByRole('alert').innerText(), /revoked/);
      assert.equal(await page.page.evaluate(() => sessionStorage.getItem('kiln.token')), null);
    });
  });
});
