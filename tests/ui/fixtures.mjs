// The runs the browser tests look at, made by real jobs submitted through the server:
//   failed  - prints a line, a Traceback on stderr, exits with code 3
//   ranks   - 2 ranks (gloo), each printing 5 lines
//   sweep   - a grid sweep of 3 trials logging "score"
//   image   - logs an image (a PNG made with pngjs) and writes outputs/notes.txt
//   signal  - a 1,000,000-point metric "signal" (1.0, but 100 at step 654321), a short "loss",
//             and outputs/model.pt
// makeFixtures() submits the ones asked for at once and waits for all of them to end.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTerminal, writePng } from './harness.mjs';

export const kSpikeStep = 654321;
export const kSpikeValue = 100;
export const kSignalPoints = 1_000_000;

const kScripts = {
  failed: `import sys
print("starting the run that fails", flush=True)
print("Traceback (most recent call last):", file=sys.stderr, flush=True)
print('  File "train.py", line 6, in <module>', file=sys.stderr, flush=True)
print("ValueError: planted failure for the UI tests", file=sys.stderr, flush=True)
sys.exit(3)
`,
  ranks: `import os, time
rank = int(os.environ["RANK"])
for i in range(5):
    print(f"rank {rank} says line {i}", flush=True)
    time.sleep(0.05)
`,
  sweep: `import argparse, time
from kiln import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float, required=True)
a = p.parse_args()
run = Run.get_context()
for i in range(1, 4):
    run.log("score", a.quality * i / 3)
    time.sleep(0.05)
print("trial done", a.quality, flush=True)
`,
  image: `import os
from kiln import Run
run = Run.get_context()
run.log_image("sample", path="sample.png")
run.log("loss", 0.25)
os.makedirs("outputs", exist_ok=True)
with open("outputs/notes.txt", "w") as f:
    f.write("notes of the image run\\n")
print("logged the image", flush=True)
`,
  signal: `import os, time
from kiln import Run
run = Run.get_context()
started = time.time()
for i in range(${kSignalPoints}):
    run.log("signal", ${kSpikeValue}.0 if i == ${kSpikeStep} else 1.0, step=i)
for i in range(50):
    run.log("loss", 1.0 / (i + 1), step=i)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pt", "wb") as f:
    f.write(b"not really weights")
print(f"logged ${kSignalPoints} points in {time.time() - started:.2f} s", flush=True)
`,
};

// The sweep's grid.
export const kSweepQualities = [0.2, 0.9, 0.5];

function project(server, name, files) {
  const dir = join(server.root, 'projects', name);
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return dir;
}

async function submit(server, name, extra = []) {
  const dir = project(server, name, { 'train.py': kScripts[name] });
  if (name === 'image') writePng(join(dir, 'sample.png'));
  return server.kilnOk(['submit', '--source-directory', dir, '--entry-script', 'train.py',
                        '--experiment', `ui-${name}`, '--display-name', `ui ${name}`, ...extra]);
}

async function submitSweep(server) {
  const dir = project(server, 'sweep', { 'train.py': kScripts.sweep });
  const file = join(server.root, 'projects', 'sweep.yaml');
  writeFileSync(file, `experiment: ui-sweep
display_name: ui sweep
trial:
  source_directory: ${dir}
  entry_script: train.py
search_space:
  --quality: {type: choice, values: [${kSweepQualities.join(', ')}]}
sampling: {type: grid}
objective: {primary_metric: score, goal: maximize}
limits: {max_concurrent_trials: 3}
`);
  return server.kilnOk(['sweep', 'submit', file]);
}

// Submits the named fixtures (all by default) and waits for each to end. Returns
// {name: run} with each run as GET /v1/runs/{id} gives it; sweep also has .trials.
export async function makeFixtures(server, names = ['failed', 'ranks', 'sweep', 'image', 'signal']) {
  const ids = {};
  await Promise.all(names.map(async (name) => {
    if (name === 'sweep') ids[name] = await submitSweep(server);
    else if (name === 'ranks') ids[name] = await submit(server, name, ['--process-count-per-node', '2', '--distributed-backend', 'gloo']);
    else ids[name] = await submit(server, name);
  }));
  const runs = {};
  await Promise.all(names.map(async (name) => {
    runs[name] = await server.waitForRun(ids[name], isTerminal, { timeoutMs: 300_000 });
  }));
  const expected = { failed: 'Failed', ranks: 'Completed', sweep: 'Completed', image: 'Completed', signal: 'Completed' };
  for (const name of names) {
    assert.equal(runs[name].status, expected[name],
                 `fixture ${name} (${runs[name].id}) ended ${runs[name].status}: ${runs[name].failure_reason}\n` +
                 (runs[name].failure_log_tail || []).join('\n'));
  }
  if (runs.sweep) {
    const trials = await server.api(`/v1/runs?parent=${encodeURIComponent(runs.sweep.id)}`);
    assert.equal(trials.status, 200);
    runs.sweep.trials = trials.body.runs;
    assert.equal(runs.sweep.trials.length, kSweepQualities.length);
  }
  return runs;
}

// A 2-rank job that prints a line every 100 ms per rank for `seconds`; each line holds the
// wall-clock time it was printed at, in ms: "tick <i> rank <r> at <ms>".
export const kTickerScript = (seconds) => `import os, sys, time
rank = int(os.environ["RANK"])
# Wait for the file the test writes once the page is watching (at most 60 s).
deadline = time.time() + 60
while not os.path.exists(os.environ["UI_TEST_GO"]) and time.time() < deadline:
    time.sleep(0.05)
n = int(${seconds} / 0.1)
start = time.time()
for i in range(n):
    print(f"tick {i} rank {rank} at {int(time.time() * 1000)}", flush=True)
    next_at = start + (i + 1) * 0.1
    time.sleep(max(0.0, next_at - time.time()))
`;

// A job that sleeps until canceled (at most `seconds`).
export const kSleeperScript = (seconds) => `import time
print("sleeping", flush=True)
time.sleep(${seconds})
`;

export function writeProject(server, name, files) {
  return project(server, name, files);
}
