// Kiln Studio in a real browser (Debian's Chromium), against a real kiln server with real
// runs; each figure next to a peer measured in the same run (bench/README.md):
//   1. a 1,000,000-point series: navigation to the chart drawn, and a zoom to a 1,000-step
//      range drawn at full detail; peer: the same chart fed every point (the whole series
//      read and drawn, as UIs that do not downsample on the server do);
//   2. the runs table with 10,000 runs: navigation to the first row, then scrolling it end to
//      end, with the longest main-thread task; peer: the same runs as one plain table with
//      every row in the page;
//   3. a 4-rank run printing 10,000 lines/s, followed: the longest task and the page's heap
//      from 10 s on; peer: the same stream appended as one element per line;
//   4. the JavaScript shipped, gzipped.
// Asserts nothing. Usage: node bench/ui/studio_bench.mjs [--log-seconds 60] [--runs 10000]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { KilnServer, Studio, repoRoot } from '../../tests/ui/harness.mjs';
import { writeProject } from '../../tests/ui/fixtures.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const kLogSeconds = option('--log-seconds', 60);
const kRuns = option('--runs', 10_000);
const kSpikeStep = 654_321;

const ms = (x) => `${Math.round(x)} ms`;
const ratio = (kiln, peer) => `${(peer / kiln).toFixed(1)}x`;

const kSignal = `import math
from kiln import Run
run = Run.get_context()
for i in range(1_000_000):
    run.log("signal", 100.0 if i == ${kSpikeStep} else 1.0 + 0.1 * math.sin(i / 5000), step=i)
`;

// Each of the 4 ranks prints 2,500 lines a second for the given seconds.
const kPrinter = (seconds) => `import os, sys, time
rank = int(os.environ.get("RANK", "0"))
start = time.time()
i = 0
while time.time() - start < ${seconds}:
    due = start + i / 2500
    while time.time() < due:
        time.sleep(0.0005)
    print(f"rank {rank} line {i}: step={i} loss={1.0 / (i + 1):.6f} lr=0.001 examples/s=1234.5", flush=(i % 50 == 0))
    i += 1
`;

async function submit(server, name, script, extra = []) {
  const dir = writeProject(server, `bench-${name}`, { 'train.py': script });
  return server.kilnOk(['submit', '--source-directory', dir, '--entry-script', 'train.py',
                        '--experiment', `bench-${name}`, ...extra]);
}

// Longest main-thread tasks, recorded from the page's start.
const kLongTasks = () => {
  window.__long = [];
  new PerformanceObserver((list) => list.getEntries().forEach((e) => window.__long.push(e.duration)))
    .observe({ type: 'longtask', buffered: true });
};

async function benchChart(server, studio) {
  const id = await submit(server, 'signal', kSignal);
  const run = await server.waitForRun(id);
  if (run.status !== 'Completed') throw new Error(`the 1M-point run ${id} ended ${run.status}: ${run.failure_reason}`);
  const page = (await studio.newPage()).page;
  await page.goto(`${server.url}/runs/${id}?tab=metrics`);
  await page.waitForFunction(() => window.__kiln && window.__kiln.charts.signal, null, { timeout: 60_000 });
  const drawn = await page.evaluate(() => {
    const chart = window.__kiln.charts.signal;
    return { at: chart.drawnAt, max: Math.max(...chart.data[1]), sent: chart.data[0].length };
  });
  // Zoom to steps 500,000..501,000 as a drag does (1,000 steps are less than a pixel here,
  // so through the chart's hook rather than the mouse).
  const zoom = await page.evaluate(async () => {
    const start = performance.now();
    window.__kiln.charts.signal.zoom(500_000, 501_000);
    while (performance.now() - start < 30_000) {
      const now = window.__kiln.charts.signal;
      if (now.range && now.drawnAt > start) {
        return { ms: now.drawnAt - start, points: now.data[0].length, inRange: now.totals[0].inRange };
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error('the zoomed chart was not drawn in 30 s');
  });
  // The peer: every point read and handed to the same chart library.
  const peer = await page.evaluate(async (run) => {
    const start = performance.now();
    const response = await fetch(`/v1/runs/${run}/metrics/signal`,
      { headers: { Authorization: `Bearer ${sessionStorage.getItem('kiln.token')}` } });
    const series = await response.json();
    const box = document.createElement('div');
    document.body.append(box);
    const u = new window.__kiln.uPlot({ width: 616, height: 260, series: [{}, { stroke: 'red' }], scales: { x: { time: false } } },
                                      [series.steps, series.values], box);
    await new Promise((r) => requestAnimationFrame(() => r()));
    const ms = performance.now() - start;
    u.destroy();
    box.remove();
    return { ms, points: series.steps.length };
  }, id);
  await page.close();
  console.log('1. a 1,000,000-point series');
  console.log(`   navigation to chart drawn   ${ms(drawn.at).padStart(8)}  (${drawn.sent} points sent, spike ${drawn.max === 100 ? 'kept' : 'LOST'})   target < 1000 ms`);
  console.log(`   zoom to 1,000 steps drawn   ${ms(zoom.ms).padStart(8)}  (${zoom.inRange} points in range, ${zoom.points} drawn)   target < 200 ms`);
  console.log(`   peer: every point, read and drawn ${ms(peer.ms).padStart(8)}  (${peer.points} points); Kiln's full view is ${ratio(drawn.at, peer.ms)} faster`);
}

// Copies one real run `count` times straight into the server's SQLite store.
function seedRuns(server, seed, count) {
  const db = server.store.replace('sqlite://', '');
  const sql = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
INSERT INTO runs (id, experiment_id, display_name, spec_json, snapshot_id, compute_target, run_dir, host,
  status, created_at, started_at, ended_at, exit_code, failure_reason, failure_log_tail, submitted_by, kind, parent_id)
SELECT r.id || '_' || n.i, r.experiment_id, r.display_name, r.spec_json, r.snapshot_id, r.compute_target,
  r.run_dir, r.host, CASE WHEN n.i % 7 = 0 THEN 'Failed' ELSE r.status END, r.created_at - n.i * 1000000,
  r.started_at, r.ended_at, r.exit_code, r.failure_reason, r.failure_log_tail, r.submitted_by, r.kind, r.parent_id
FROM runs r, n WHERE r.id = '${seed}';
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
INSERT INTO run_params (run_id, position, name, value, resolved)
SELECT '${seed}' || '_' || n.i, 0, '--lr', printf('%.5f', n.i / ${count}.0), NULL FROM n;`;
  const done = spawnSync('sqlite3', [db], { input: sql, encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`seeding runs: ${done.stderr}`);
}

async function benchRuns(server, studio) {
  const seed = await submit(server, 'seed', 'print("seed")\n');
  await server.waitForRun(seed);
  seedRuns(server, seed, kRuns - 1);
  const studioPage = await studio.newPage();
  const page = studioPage.page;
  await page.addInitScript(kLongTasks);
  await page.goto(`${server.url}/runs`);
  await page.waitForSelector('[data-run]');
  const first = await page.evaluate(() => performance.now());
  await page.waitForFunction((n) => document.body.innerText.includes(`shown of ${n}`), kRuns + 1, { timeout: 120_000 });
  const all = await page.evaluate(() => performance.now());
  const loadTask = await page.evaluate(() => Math.max(0, ...window.__long));
  const scroll = await page.evaluate(async () => {
    window.__long = [];
    const box = document.querySelector('.runs-table');
    const start = performance.now();
    for (let y = 0; y <= box.scrollHeight; y += box.clientHeight / 2) {
      box.scrollTop = y;
      await new Promise((r) => requestAnimationFrame(r));
    }
    return { ms: performance.now() - start, longest: Math.max(0, ...window.__long) };
  });
  // The peer: the same runs, every one a row of a plain table.
  const peer = await page.evaluate(async () => {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem('kiln.token')}` };
    const runs = await (await fetch('/v1/runs', { headers })).json();
    window.__long = [];
    const start = performance.now();
    const table = document.createElement('table');
    for (const run of runs.runs) {
      const row = table.insertRow();
      for (const value of [run.status, run.id, run.experiment, run.compute_target, run.created_at,
                           run.failure_reason || '', ...(run.params || []).map((p) => p.value)]) {
        row.insertCell().textContent = value;
      }
    }
    const box = document.createElement('div');
    box.style.height = '600px';
    box.style.overflow = 'auto';
    box.append(table);
    document.body.replaceChildren(box);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
    const rendered = performance.now() - start;
    const renderTask = Math.max(0, ...window.__long);
    window.__long = [];
    for (let y = 0; y <= box.scrollHeight; y += 300) {
      box.scrollTop = y;
      await new Promise((r) => requestAnimationFrame(r));
    }
    return { rendered, renderTask, scrollLongest: Math.max(0, ...window.__long), rows: runs.runs.length };
  });
  await studioPage.close();
  console.log(`2. the runs table with ${kRuns.toLocaleString()} runs`);
  console.log(`   navigation to first row     ${ms(first).padStart(8)}   target < 1000 ms;  every run loaded ${ms(all)}, longest task while loading ${ms(loadTask)}`);
  console.log(`   scrolled end to end         ${ms(scroll.ms).padStart(8)}   longest task ${ms(scroll.longest)}   target <= 50 ms`);
  console.log(`   peer: a plain table of ${peer.rows} rows: rendered in ${ms(peer.rendered)} (longest task ${ms(peer.renderTask)}), ` +
              `longest task while scrolling ${ms(peer.scrollLongest)}`);
}

// Follows a 4-rank printer for kLogSeconds: the longest task after 10 s, and the heap kept.
async function followLogs(server, studio, naive) {
  const id = await submit(server, naive ? 'printer-peer' : 'printer', kPrinter(kLogSeconds),
                          ['--process-count-per-node', '4', '--distributed-backend', 'gloo']);
  await server.waitForRun(id, 'Running');
  const studioPage = await studio.newPage();
  const page = studioPage.page;
  await page.addInitScript(kLongTasks);
  if (naive) {
    await page.goto(`${server.url}/compute`);
    await page.evaluate((run) => {
      // One element per line, appended as the stream brings it.
      const box = document.createElement('div');
      box.style.height = '600px';
      box.style.overflow = 'auto';
      document.body.replaceChildren(box);
      window.__lines = 0;
      (async () => {
        const response = await fetch(`/v1/runs/${run}/logs?follow=true`,
          { headers: { Authorization: `Bearer ${sessionStorage.getItem('kiln.token')}` } });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let rest = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          const blocks = (rest + value).split('\n\n');
          rest = blocks.pop();
          for (const block of blocks) {
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (!block.startsWith('event: line') || !data) continue;
            const line = JSON.parse(data.slice(6));
            const div = document.createElement('div');
            div.textContent = `[${line.rank}] ${line.text}`;
            box.append(div);
            window.__lines++;
          }
          box.scrollTop = box.scrollHeight;
        }
      })();
    }, id);
  } else {
    await page.goto(`${server.url}/runs/${id}?tab=logs`);
  }
  // The heap the page keeps (after a full collection, through the DevTools protocol:
  // performance.memory is coarse), at 10 s and at the end.
  const cdp = await page.context().newCDPSession(page);
  const retained = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    // The DOM's objects are the embedder's heap: counted too.
    const usage = await cdp.send('Runtime.getHeapUsage');
    return usage.usedSize + (usage.embedderHeapUsedSize || 0);
  };
  await new Promise((r) => setTimeout(r, 10_000));
  const heapAt10 = await retained();
  // The collection is a task of its own: let its report arrive before counting afresh.
  await new Promise((r) => setTimeout(r, 500));
  await page.evaluate(() => { window.__long = []; });
  await new Promise((r) => setTimeout(r, (kLogSeconds - 10) * 1000));
  const longest10 = await page.evaluate(() => Math.max(0, ...window.__long));
  const heapAtEnd = await retained();
  const lines = naive ? await page.evaluate(() => window.__lines)
    : await page.evaluate(() => document.querySelector('.chart-controls [aria-live=off]').innerText);
  await studioPage.close();
  await server.waitForRun(id);
  const at10 = heapAt10 / 1e6;
  const end = heapAtEnd / 1e6;
  return { longest10, at10, end, lines };
}

async function benchLogs(server, studio) {
  const kiln = await followLogs(server, studio, false);
  const peer = await followLogs(server, studio, true);
  console.log(`3. a 4-rank run printing 10,000 lines/s, followed for ${kLogSeconds} s`);
  console.log(`   longest task after 10 s      ${ms(kiln.longest10).padStart(8)}   target <= 50 ms   (${kiln.lines})`);
  console.log(`   heap kept at 10 s and at the end  ${kiln.at10.toFixed(0)} MB -> ${kiln.end.toFixed(0)} MB`);
  console.log(`   peer: one element per line: longest task after 10 s ${ms(peer.longest10)}, heap ${peer.at10.toFixed(0)} MB -> ${peer.end.toFixed(0)} MB (${peer.lines} lines)`);
}

function benchSize() {
  const dir = join(repoRoot, 'build', 'ui', 'assets');
  const js = readdirSync(dir).filter((name) => name.endsWith('.js'));
  const bytes = js.reduce((sum, name) => sum + gzipSync(readFileSync(join(dir, name)), { level: 9 }).length, 0);
  console.log(`4. JavaScript shipped, gzipped: ${(bytes / 1024).toFixed(1)} KiB   target < 300 KiB`);
}

const server = await KilnServer.start({ name: 'bench', cores: 8 });
const studio = await Studio.start(server);
try {
  console.log(`Kiln Studio benchmarks: Chromium ${studio.browser.version()} (Debian's), headless, 1280x800`);
  await benchChart(server, studio);
  await benchRuns(server, studio);
  await benchLogs(server, studio);
  benchSize();
} finally {
  await studio.stop();
  await server.stop();
}
