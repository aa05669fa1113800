// The browser tests' harness: a real `kiln server` in a home of its own, tokens, the CLI
// as its client, Chromium (Debian's, through playwright-core), and a page wrapper that
// fails a test on any console error, page error, failed request or unexpected HTTP error.
//
// Lifetimes: KilnServer.stop() cancels every run that has not ended, waits for them, stops
// the server (SIGTERM, then SIGKILL), and kills any process left that still names the
// server's home; should a test file end first (a crash, SIGINT, SIGTERM, SIGHUP), hooks kill
// the server and those processes and remove the home.
// Test files take one lock (acquireSuiteLock) so that, whatever concurrency `node --test`
// uses, only one file drives a server, its jobs and a browser at a time on a small machine.
//
// Environment: KILN_BINARY (default <repo>/build/kiln), KILN_UI_CHROMIUM (default
// /usr/bin/chromium), KILN_UI_DIR (passed to the server: serve a `ui/build.mjs --out` folder
// instead of the compiled-in UI), KILN_UI_SCREENSHOTS (folder for screenshots, default
// <repo>/docs/ui; "0" skips them), KILN_UI_KEEP=1 (keep the temporary homes).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync,
  rmSync, statSync, writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../../ui/package.json', import.meta.url));
const { chromium } = require('playwright-core');
export const { PNG } = require('pngjs');
const kAxePath = require.resolve('axe-core/axe.min.js');
const kAxeUrl = '/__ui_tests__/axe.min.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const kilnBinary = process.env.KILN_BINARY || join(repoRoot, 'build', 'kiln');

const kNoKeepAlive = new http.Agent({ keepAlive: false });

export const kViewport = { width: 1280, height: 800 };

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const kTerminal = new Set(['Completed', 'Failed', 'Canceled']);
export const isTerminal = (status) => kTerminal.has(status);

// Polls `probe` (async; a truthy result ends the wait) every `everyMs` until `timeoutMs`;
// throws naming `what` and the last value seen.
export async function waitFor(what, probe, { timeoutMs = 120_000, everyMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                      (last === undefined ? '' : `; last: ${JSON.stringify(last)}`));
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------
// One test file at a time (a lock folder holding the holder's pid; a dead holder's lock is
// taken over).

const kLockDir = join(tmpdir(), 'kiln-ui-tests.lock');

export async function acquireSuiteLock({ timeoutMs = 30 * 60_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(kLockDir);
      writeFileSync(join(kLockDir, 'pid'), String(process.pid));
      const release = () => {
        try {
          if (readFileSync(join(kLockDir, 'pid'), 'utf8') === String(process.pid)) {
            rmSync(kLockDir, { recursive: true, force: true });
          }
        } catch {
          // gone already
        }
      };
      process.once('exit', release);
      return release;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    let holder = null;
    try {
      holder = Number(readFileSync(join(kLockDir, 'pid'), 'utf8'));
    } catch {
      // being written or removed: look again
    }
    if (holder && !alive(holder)) rmSync(kLockDir, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`${kLockDir} held by pid ${holder} for too long`);
    await sleep(300);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------
// Processes

// The environment of every kiln process the tests start: ours without any KILN_ variable
// (as tests/e2e/kiln_fixture.cc does), a short kill grace, and `extra`.
function kilnEnv(extra) {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('KILN_')) env[name] = value;
  }
  env.KILN_KILL_GRACE_SECONDS = '2';
  return { ...env, ...extra };
}

// Runs a program to its end: {code, signal, out, err}. Rejects past timeoutMs (after
// killing it).
export function runProgram(argv, { env, cwd, timeoutMs = 120_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} ran past ${timeoutMs} ms\n${out}\n${err}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
    child.stdin.end(input ?? '');
  });
}

const lastLine = (text) => text.trim().split('\n').pop().trim();

// Reads the first line of a stream, or rejects after timeoutMs.
function firstLine(stream, timeoutMs) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no line in ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(text.slice(0, end));
      }
    };
    stream.setEncoding('utf8').on('data', onData);
    stream.on('end', () => {
      clearTimeout(timer);
      reject(new Error(`the stream ended before a line: '${text}'`));
    });
  });
}

// The pids of processes whose command line, working folder or environment names `path`
// (the jobs, launchers and sweep drivers of one server home), ours excepted.
function processesUnder(path) {
  const found = [];
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // another user's process
      }
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        // another user's process
      }
      if (cmdline.includes(path) || cwd.startsWith(path) || environ.includes(path)) found.push(pid);
    } catch {
      // gone
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// The server

const liveServers = new Set();

// When the test process ends before stop() (a crash, Ctrl-C, a ctest timeout's SIGTERM):
// kill each server and every process left under its home.
function killEverything() {
  for (const server of liveServers) {
    try {
      server.child.kill('SIGKILL');
    } catch {
      // gone
    }
    for (const pid of processesUnder(server.root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (process.env.KILN_UI_KEEP !== '1') rmSync(server.root, { recursive: true, force: true });
  }
  liveServers.clear();
}
process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killEverything();
    process.kill(process.pid, signal);
  });
}

export class KilnServer {
  // Starts `kiln server --listen 127.0.0.1:0` in a new temporary home. `cores`: the local
  // target's slots (kiln compute set local --cores), so the fixture jobs run side by side.
  static async start({ name = 'ui', cores = 8 } = {}) {
    assert.ok(existsSync(kilnBinary), `no kiln binary at ${kilnBinary} (set KILN_BINARY)`);
    const server = new KilnServer();
    server.root = mkdtempSync(join(tmpdir(), `kiln-${name}-`));
    server.home = join(server.root, 'server-home');
    server.clientHome = join(server.root, 'client-home');
    mkdirSync(server.home);
    mkdirSync(server.clientHome);
    server.store = `sqlite://${join(server.home, 'kiln.db')}`;
    server.tokens = {};

    if (cores) {
      const set = await runProgram([kilnBinary, 'compute', 'set', 'local', '--cores', String(cores)],
                                   { env: kilnEnv({ KILN_HOME: server.home, KILN_STORE: server.store }) });
      assert.equal(set.code, 0, `kiln compute set local: ${set.err}`);
    }

    const serverEnv = { KILN_HOME: server.home };
    if (process.env.KILN_UI_DIR) serverEnv.KILN_UI_DIR = process.env.KILN_UI_DIR;
    server.logPath = join(server.root, 'server.log');
    const log = openSync(server.logPath, 'w');
    server.child = spawn(kilnBinary, ['server', '--listen', '127.0.0.1:0', '--home', server.home,
                                      '--store', server.store],
                         { env: kilnEnv(serverEnv), stdio: ['ignore', 'pipe', log] });
    closeSync(log);
    liveServers.add(server);
    server.exited = new Promise((resolve) => server.child.on('exit', (code, signal) => resolve({ code, signal })));
    let line;
    try {
      line = await firstLine(server.child.stdout, 30_000);
    } catch (error) {
      server.child.kill('SIGKILL');
      liveServers.delete(server);
      throw new Error(`kiln server did not start: ${error.message}\n${server.log()}`);
    }
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
    assert.ok(match, `unexpected first line of kiln server: '${line}'`);
    server.url = match[1];
    server.child.stdout.resume();
    return server;
  }

  log() {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  // A new token of `role` (viewer, member, admin), made on the server's store.
  async createToken(name, role) {
    const made = await runProgram([kilnBinary, 'server', 'token', 'create', '--store', this.store,
                                   '--name', name, '--role', role],
                                  { env: kilnEnv({ KILN_HOME: this.home }) });
    assert.equal(made.code, 0, `token create: ${made.err}`);
    return lastLine(made.out);
  }

  // Revokes a token by its secret ("kiln_tok_<id>_<secret>": the id is tok_<12 hex>).
  async revokeToken(secret) {
    const id = /^kiln_(tok_[0-9a-f]+)_/.exec(secret)[1];
    const revoked = await runProgram([kilnBinary, 'server', 'token', 'revoke', id, '--store', this.store],
                                     { env: kilnEnv({ KILN_HOME: this.home }) });
    assert.equal(revoked.code, 0, `token revoke: ${revoked.err}`);
  }

  // One token per role, made the first time it is asked for (a promise, so that callers
  // at once share it).
  async token(role = 'admin') {
    if (!this.tokens[role]) this.tokens[role] = this.createToken(`ui-${role}`, role);
    return this.tokens[role];
  }

  // `kiln ARGS` as a client of the server (KILN_SERVER, KILN_TOKEN: admin unless given).
  async kiln(args, { token, env = {}, cwd, timeoutMs = 120_000 } = {}) {
    const secret = token ?? (await this.token('admin'));
    return runProgram([kilnBinary, ...args], {
      env: kilnEnv({ KILN_HOME: this.clientHome, KILN_SERVER: this.url, KILN_TOKEN: secret, ...env }),
      cwd: cwd ?? this.root,
      timeoutMs,
    });
  }

  // kiln ARGS that must succeed; its last stdout line (an id, for submit).
  async kilnOk(args, options) {
    const ran = await this.kiln(args, options);
    assert.equal(ran.code, 0, `kiln ${args.join(' ')} exited ${ran.code}\n${ran.out}\n${ran.err}`);
    return lastLine(ran.out);
  }

  // An HTTP request to the server: {status, headers, body} (body parsed when JSON). Each
  // request has a connection of its own, closed after it: an idle keep-alive connection
  // would hold up the server's graceful stop.
  async api(path, { token, method = 'GET', body, headers = {} } = {}) {
    const secret = token === undefined ? await this.token('admin') : token;
    const sent = { ...headers };
    if (secret) sent.Authorization = `Bearer ${secret}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) sent['Content-Type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const request = http.request(this.url + path, { method, headers: sent, agent: kNoKeepAlive, timeout: 60_000 },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => { text += chunk; });
          response.on('end', () => {
            let parsed = text;
            if ((response.headers['content-type'] || '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                // keep the text
              }
            }
            resolve({ status: response.statusCode, headers: response.headers, body: parsed });
          });
          response.on('error', reject);
        });
      request.on('timeout', () => request.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  async run(id) {
    const got = await this.api(`/v1/runs/${encodeURIComponent(id)}`);
    assert.equal(got.status, 200, `GET run ${id}: ${JSON.stringify(got.body)}`);
    return got.body;
  }

  // Every run (all pages of GET /v1/runs).
  async runs(query = '') {
    const all = [];
    let after = '';
    for (;;) {
      const page = await this.api(`/v1/runs?limit=1000${query}${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      all.push(...page.body.runs);
      if (!page.body.next_cursor) return all;
      after = page.body.next_cursor;
    }
  }

  // Waits until the run's status passes `until` (a status, or a predicate on the run).
  async waitForRun(id, until = isTerminal, { timeoutMs = 180_000 } = {}) {
    const pass = typeof until === 'function' ? (run) => until(run.status, run) : (run) => run.status === until;
    return waitFor(`run ${id} (${until.name || until})`, async () => {
      const run = await this.run(id);
      return pass(run) ? run : false;
    }, { timeoutMs, everyMs: 300 }).catch((error) => {
      throw new Error(`${error.message}\n--- server log tail ---\n${this.log().slice(-4000)}`);
    });
  }

  // Cancels every run that has not ended and waits for them; stops the server; kills any
  // process left under its home; removes the home (unless KILN_UI_KEEP=1).
  async stop() {
    if (!liveServers.has(this)) return;
    const problems = [];
    try {
      const active = await this.runs('&active=true');
      for (const run of active) {
        if (run.kind === 'sweep') {
          await this.kiln(['sweep', 'cancel', run.id]).catch(() => {});
        } else {
          await this.api(`/v1/runs/${encodeURIComponent(run.id)}/transitions`, {
            method: 'POST', body: { to: 'CancelRequested', detail: 'the UI tests ended' },
          }).catch(() => {});
        }
      }
      await waitFor('every run to end', async () => (await this.runs('&active=true')).length === 0,
                    { timeoutMs: 60_000, everyMs: 500 });
    } catch (error) {
      problems.push(`runs left going: ${error.message}`);
    }
    this.child.kill('SIGTERM');
    let timer;
    const exit = await Promise.race([this.exited, new Promise((resolve) => { timer = setTimeout(resolve, 30_000, null); })]);
    clearTimeout(timer);
    if (!exit) {
      this.child.kill('SIGKILL');
      await this.exited;
      problems.push('the server did not stop on SIGTERM in 30 s');
    } else if (exit.code !== 0) {
      problems.push(`the server exited with ${exit.code ?? exit.signal}`);
    }
    liveServers.delete(this);
    // Launchers are detached from the server: give them a moment to finish, then make sure.
    await waitFor('the jobs\' processes to exit', () => processesUnder(this.root).length === 0,
                  { timeoutMs: 15_000, everyMs: 250 }).catch(() => {});
    const left = processesUnder(this.root);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (left.length) problems.push(`killed processes left under ${this.root}: ${left.join(', ')}`);
    if (process.env.KILN_UI_KEEP !== '1' && !problems.length) rmSync(this.root, { recursive: true, force: true });
    if (problems.length) {
      throw new Error(`${problems.join('\n')}\n(home kept: ${this.root})\n--- server log tail ---\n` +
                      this.log().slice(-4000));
    }
  }
}

// ---------------------------------------------------------------------------------------
// The browser

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.KILN_UI_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
}

// What a page may see fail: {status, url} (a response with that status whose URL matches;
// the browser's matching "Failed to load resource" console line goes with it), {failed}
// (a request that got no answer, e.g. one a test aborted, whose URL matches; its console line
// goes with it), {console} (a console error whose text matches) or {axe} (an axe violation,
// e.g. /color-contrast/).
function allowed(allow, problem) {
  return allow.some((rule) => {
    if (rule.console) return problem.kind === 'console' && rule.console.test(problem.text);
    if (rule.axe) return problem.kind === 'axe' && rule.axe.test(problem.text);
    if (rule.failed) {
      if (problem.kind === 'requestfailed') return rule.failed.test(problem.url || '');
      return problem.kind === 'console' && rule.failed.test(problem.url || '') && /net::ERR_/.test(problem.text);
    }
    if (rule.status === undefined) return false;
    const urlOk = !rule.url || rule.url.test(problem.url || '');
    if (problem.kind === 'response') return problem.status === rule.status && urlOk;
    if (problem.kind === 'console') {
      return urlOk && problem.text.includes(`status of ${rule.status}`);
    }
    return false;
  });
}

// One page of Kiln Studio in its own browser context (its own sessionStorage), recording
// what went wrong on it.
export class StudioPage {
  constructor(context, page, baseUrl, allow) {
    this.context = context;
    this.page = page;
    this.baseUrl = baseUrl;
    this.allow = [...allow];
    this.problems = [];
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      this.record({ kind: 'console', text: message.text(), url: message.location().url });
    });
    page.on('pageerror', (error) => this.record({ kind: 'pageerror', text: String(error.stack || error) }));
    page.on('requestfailed', (request) => {
      const failure = request.failure();
      const text = failure ? failure.errorText : 'failed';
      // The UI aborts its own fetches (AbortController) when a view goes away or a newer
      // read replaces one; an abort is not a failure.
      if (text === 'net::ERR_ABORTED') return;
      this.record({ kind: 'requestfailed', text: `${request.method()} ${request.url()}: ${text}`, url: request.url() });
    });
    page.on('response', (response) => {
      if (response.status() < 400) return;
      this.record({ kind: 'response', status: response.status(), url: response.url(),
                    text: `${response.request().method()} ${response.url()} -> ${response.status()}` });
    });
  }

  record(problem) {
    this.problems.push(problem);
  }

  // Allows more failures from now on (see allowed()).
  expect(...rules) {
    this.allow.push(...rules);
  }

  unexpected() {
    return this.problems.filter((p) => !allowed(this.allow, p));
  }

  // Fails the test if anything unexpected went wrong so far.
  assertClean() {
    const bad = this.unexpected();
    assert.equal(bad.length, 0, `the page had problems:\n${bad.map((p) => `  [${p.kind}] ${p.text}`).join('\n')}`);
  }

  url(path) {
    return new URL(path, this.baseUrl).href;
  }

  // Opens `path` and waits for the app to render into #app.
  async goto(path, { waitFor: selector } = {}) {
    await this.page.goto(this.url(path), { waitUntil: 'load' });
    await this.page.waitForSelector('#app > *', { timeout: 30_000 });
    if (selector) await this.page.waitForSelector(selector, { timeout: 30_000 });
  }

  // Signs in through the login form; waits for the signed-in frame.
  async signIn(secret) {
    await this.page.fill('#token', secret);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
    await this.page.waitForSelector('nav[aria-label="Sections"]', { timeout: 30_000 });
  }

  // axe-core over the page as it is now. A serious or critical violation is recorded as a
  // problem (kind 'axe'): the test fails at its end, after its other checks have run.
  async checkAccessible(label = this.page.url()) {
    const hasAxe = await this.page.evaluate(() => typeof window.axe === 'object');
    if (!hasAxe) {
      // The page's CSP refuses inline scripts, which is what addScriptTag({path}) makes: so
      // axe comes as a same-origin script (answered here, never by the server).
      if (!this.axeRouted) {
        this.axeRouted = true;
        await this.page.route(`${this.baseUrl}${kAxeUrl}`, (route) => route.fulfill({
          status: 200, contentType: 'text/javascript; charset=utf-8', body: readFileSync(kAxePath, 'utf8'),
        }));
      }
      await this.page.addScriptTag({ url: kAxeUrl });
    }
    const result = await this.page.evaluate(async () => {
      const out = await window.axe.run(document, { resultTypes: ['violations'] });
      return out.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ')}`),
        count: v.nodes.length,
      }));
    });
    const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    const describe = (v) => `  ${v.impact} ${v.id} (${v.count} nodes): ${v.help}\n` +
                            v.nodes.map((n) => `      ${n}`).join('\n');
    const minor = result.filter((v) => !bad.includes(v));
    if (minor.length) console.log(`# axe (${label}), minor:\n${minor.map(describe).join('\n')}`);
    for (const v of bad) this.record({ kind: 'axe', text: `on ${label}: ${describe(v).trim()}` });
    return bad;
  }

  // A screenshot of the viewport at 1280x800 into KILN_UI_SCREENSHOTS (default docs/ui) as
  // NAME.png; `mask`: selectors of what changes from run to run (times, ids).
  async screenshot(name, { mask = [] } = {}) {
    const dir = process.env.KILN_UI_SCREENSHOTS ?? join(repoRoot, 'docs', 'ui');
    if (dir === '0' || dir === '') return null;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${name}.png`);
    const defaults = ['.cell.created', '.cell.duration', '.logs .time', '.timeline', '.timeline-legend'];
    await this.page.screenshot({
      path,
      animations: 'disabled',
      caret: 'hide',
      maskColor: '#d0d7de',
      mask: [...defaults, ...mask].map((s) => this.page.locator(s)),
    });
    const png = PNG.sync.read(readFileSync(path));
    assert.deepEqual([png.width, png.height], [kViewport.width, kViewport.height]);
    return path;
  }

  async close() {
    await this.context.close();
  }
}

// The browser and the server of one test file.
export class Studio {
  static async start(server) {
    const studio = new Studio();
    studio.server = server;
    studio.browser = await launchBrowser();
    return studio;
  }

  // A new page. token: signed in with it (put in sessionStorage before the app loads),
  // null for none. allow: failures expected (see allowed()).
  async newPage({ token, allow = [] } = {}) {
    const secret = token === undefined ? await this.server.token('admin') : token;
    const context = await this.browser.newContext({
      baseURL: this.server.url,
      viewport: kViewport,
      deviceScaleFactor: 1,
      locale: 'en-US',
      timezoneId: 'UTC',
      colorScheme: 'light',
      reducedMotion: 'reduce',
    });
    if (secret) {
      await context.addInitScript((value) => {
        if (!sessionStorage.getItem('kiln.token')) sessionStorage.setItem('kiln.token', value);
      }, secret);
    }
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    return new StudioPage(context, page, this.server.url, allow);
  }

  // Runs body(page) on a new page; then asserts the page had no unexpected problems and
  // closes it, whatever happened.
  async withPage(options, body) {
    const page = await this.newPage(options);
    let failed = true;
    try {
      await body(page);
      failed = false;
    } finally {
      try {
        if (!failed) page.assertClean();
        else if (page.problems.length) {
          console.log(`# the page also had:\n${page.problems.map((p) => `#   [${p.kind}] ${p.text}`).join('\n')}`);
        }
      } finally {
        await page.close();
      }
    }
  }

  async stop() {
    if (this.browser) await this.browser.close();
    this.browser = null;
  }
}

// ---------------------------------------------------------------------------------------
// The runs table

// Waits until the runs table of `page` (a StudioPage) shows exactly these run ids.
export async function waitForRows(page, ids) {
  const rows = page.page.locator('[role="table"][aria-label="Runs"] [role="row"][data-run]');
  await page.page.waitForFunction((want) => {
    const got = [...document.querySelectorAll('[role="row"][data-run]')].map((r) => r.dataset.run).sort();
    return JSON.stringify(got) === JSON.stringify(want);
  }, [...ids].sort(), { timeout: 30_000 }).catch(async (error) => {
    const got = await rows.evaluateAll((els) => els.map((r) => r.dataset.run));
    throw new Error(`the table shows ${JSON.stringify(got)}, not ${JSON.stringify([...ids].sort())}: ${error.message}`);
  });
}

// ---------------------------------------------------------------------------------------
// Canvas pixels

// Counts the plot canvas's pixels near `hex` (within `tolerance` per channel, alpha > 0)
// inside the plot area, per pixel column: {columns: [count...], top: [first row or -1...],
// bbox} in canvas pixels. `chart` is the id in window.__kiln.charts.
export async function seriesPixels(page, chart, hex, tolerance = 60) {
  return page.evaluate(({ chart, hex, tolerance }) => {
    const entry = window.__kiln.charts[chart];
    const u = entry.plot;
    const canvas = u.ctx.canvas;
    const { left, top, width, height } = u.bbox;
    const x0 = Math.max(0, Math.floor(left));
    const y0 = Math.max(0, Math.floor(top));
    const w = Math.min(canvas.width - x0, Math.ceil(width));
    const h = Math.min(canvas.height - y0, Math.ceil(height));
    const pixels = u.ctx.getImageData(x0, y0, w, h).data;
    const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const columns = new Array(w).fill(0);
    const tops = new Array(w).fill(-1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        if (pixels[i + 3] === 0) continue;
        if (Math.abs(pixels[i] - want[0]) > tolerance || Math.abs(pixels[i + 1] - want[1]) > tolerance ||
            Math.abs(pixels[i + 2] - want[2]) > tolerance) {
          continue;
        }
        columns[x]++;
        if (tops[x] < 0) tops[x] = y;
      }
    }
    return { columns, tops, bbox: { left: x0, top: y0, width: w, height: h },
             pxRatio: canvas.width / canvas.clientWidth };
  }, { chart, hex, tolerance });
}

export const kSeriesColour = '#1f6feb'; // ui/src/components/chart.js kPalette[0]

// A small PNG (a gradient with a red square) written with pngjs.
export function writePng(path, size = 32) {
  const png = new PNG({ width: size, height: size });
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      const inSquare = x > size / 4 && x < (3 * size) / 4 && y > size / 4 && y < (3 * size) / 4;
      png.data[i] = inSquare ? 220 : (x * 255) / size;
      png.data[i + 1] = inSquare ? 30 : (y * 255) / size;
      png.data[i + 2] = inSquare ? 30 : 160;
      png.data[i + 3] = 255;
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, PNG.sync.write(png));
  return statSync(path).size;
}

// ---------------------------------------------------------------------------------------
// A test file's setup: the suite lock, a server, its fixtures (prepare(server) -> anything,
// kept as ctx.fixtures) and a browser. stopSuite() undoes all of it, whatever failed.

export async function startSuite(ctx, name, prepare = async () => null) {
  ctx.release = await acquireSuiteLock();
  ctx.started = Date.now();
  ctx.server = await KilnServer.start({ name });
  ctx.fixtures = await prepare(ctx.server);
  ctx.studio = await Studio.start(ctx.server);
  return ctx;
}

export async function stopSuite(ctx) {
  const started = Date.now();
  try {
    if (ctx.studio) await ctx.studio.stop();
  } finally {
    try {
      if (ctx.server) await ctx.server.stop();
    } finally {
      if (ctx.release) ctx.release();
      console.log(`# ${ctx.server ? ctx.server.url : 'no server'}: ${((Date.now() - ctx.started) / 1000).toFixed(1)} s ` +
                  `in all, ${((Date.now() - started) / 1000).toFixed(1)} s to stop`);
    }
  }
}
