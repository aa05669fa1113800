"""What a sweep costs beyond its trials, measured on this machine in one run:

    PYTHONPATH=build/python /usr/bin/python3 bench/python/sweep_overhead.py \
        [--trials 1000] [--turnaround-trials 50] [--trial-seconds 2]

1. Scheduling at scale: a sweep of --trials trials of a script that logs 10 points and
   exits, 2 at a time. Prints the sweep's wall time over the ideal (the sum of the trials'
   own run times, Running to their end, halved for 2 slots) and the driver's peak memory
   (VmHWM). Then get_children_sorted_by_primary_metric() over those trials, next to the way
   HyperDrive's SDK does it (one get_metrics() and one get_status() per child, which its users
   report takes ~5 minutes for 300 children), timed in the same run: target under 1 s.
2. Trial turnaround: --turnaround-trials trials of a script that imports torch, works
   --trial-seconds (sleeping) and exits, one at a time; from one trial's last line of user
   code to the next trial's first line after `import torch` (both stamped by the script),
   median and p90. Target under 200 ms warm. Measured warm (the default: the next trial
   waits in line with torch imported) and cold (warm_start=False: a new interpreter
   importing torch once its turn comes), the ratio printed; then warm importing nothing.
A fresh KILN_HOME under $TMPDIR; asserts nothing.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

from kiln import Experiment, Workspace
from kiln.train.dnn import PyTorch
from kiln.train.hyperdrive import (GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal,
                                   RandomParameterSampling, choice, uniform)

LOG_TEN = """
    import argparse
    from kiln import Run
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    a = p.parse_args()
    run = Run.get_context()
    for i in range(10):
        run.log("score", a.x * (i + 1))
"""

STAMPED = """
    import time
    {imports}
    first = time.time()
    from kiln import Run
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--i", type=int)
    p.parse_args()
    run = Run.get_context()
    run.log("first_line", first)
    run.log("score", 1.0)
    time.sleep({seconds})  # the trial's own work, while the next one waits its turn
    run.log("last_line", time.time())
"""


def project(root, name, script):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train.py"), "w") as f:
        f.write(textwrap.dedent(script))
    return folder


def peak_memory_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def watch_driver(home, sweep_id, peak, stop):
    lock = os.path.join(home, "runs", sweep_id, "driver.lock")
    while not stop.is_set():
        try:
            with open(lock) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid:
            kb = peak_memory_kb(pid)
            if kb:
                peak[0] = max(peak[0], kb)
        time.sleep(0.2)


def seconds(text):
    import datetime
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def scheduling(ws, root, trials):
    est = PyTorch(source_directory=project(root, "ten", LOG_TEN), entry_script="train.py")
    config = HyperDriveConfig(
        estimator=est,
        hyperparameter_sampling=RandomParameterSampling({"--x": uniform(0, 1)}, seed=1),
        primary_metric_name="score", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=trials, max_concurrent_runs=2)
    started = time.time()
    run = Experiment(ws, "bench-sweep").submit(config)
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(target=watch_driver, args=(ws.home, run.id, peak, stop))
    watcher.start()
    run.wait_for_completion()
    wall = time.time() - started
    stop.set()
    watcher.join()
    own = 0.0
    for child in run.get_children():
        record = child._refresh()
        own += seconds(record["ended_at"]) - seconds(record["started_at"])
    ideal = own / 2
    print(f"scheduling: {trials} trials, 2 at a time: wall {wall:.1f} s, trials' own time "
          f"{own:.1f} s (ideal wall {ideal:.1f} s): wall/ideal {wall / ideal:.2f}; "
          f"{wall / trials * 1000:.0f} ms per trial; driver peak memory "
          f"{peak[0] / 1024:.1f} MiB", flush=True)

    timings = []
    for _ in range(3):
        t = time.time()
        rows = run.get_children_sorted_by_primary_metric()
        timings.append(time.time() - t)
    assert len(rows) == trials
    ours = statistics.median(timings)
    t = time.time()
    children = run.get_children()
    per_child = [(c.id, c.get_metrics("score"), c.get_status()) for c in children]
    theirs = time.time() - t
    assert len(per_child) == trials
    print(f"get_children_sorted_by_primary_metric over {trials} trials: {ours * 1000:.0f} ms "
          f"(target < 1000 ms); HyperDrive's way (get_metrics + get_status per child) "
          f"{theirs * 1000:.0f} ms: {theirs / ours:.1f}x slower", flush=True)


def interpreter_exit(imports, times=5):
    """How long a Python that imported `imports` takes from its last line to its exit,
    measured alone: part of any turnaround, since a trial's slots come back once its
    process has ended."""
    code = f"import sys, time\nimport {imports}\nsys.stdout.write(f'{{time.time()}}\\n')\n"
    gaps = []
    for _ in range(times):
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        last = float(p.stdout.readline())
        p.wait()
        gaps.append(time.time() - last)
    return statistics.median(gaps)


def turnaround(ws, root, trials, imports, warm, seconds):
    script = (STAMPED.replace("{imports}", f"import {imports}" if imports else "pass")
              .replace("{seconds}", str(seconds)))
    est = PyTorch(source_directory=project(root, f"stamped-{imports or 'none'}-{warm}", script),
                  entry_script="train.py")
    config = HyperDriveConfig(
        estimator=est,
        hyperparameter_sampling=GridParameterSampling({"--i": choice(list(range(trials)))}),
        primary_metric_name="score", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=trials, max_concurrent_runs=1, warm_start=warm)
    run = Experiment(ws, "bench-turnaround").submit(config)
    run.wait_for_completion()
    stamps = []
    for child in run.get_children():  # in the order they were made
        metrics = child.get_metrics()
        stamps.append((metrics["first_line"], metrics["last_line"]))
    gaps = [stamps[i + 1][0] - stamps[i][1] for i in range(len(stamps) - 1)]
    gaps.sort()
    median = statistics.median(gaps)
    p90 = gaps[int(0.9 * (len(gaps) - 1))]
    what = f"importing {imports}" if imports else "importing nothing (Kiln's own part)"
    print(f"turnaround over {trials} trials {what}, {'warm' if warm else 'cold'} start: median "
          f"{median * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms; target < 200 ms warm: "
          f"{median / 0.2:.2f}x the target", flush=True)
    return median


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--turnaround-trials", type=int, default=50)
    parser.add_argument("--trial-seconds", type=float, default=2.0,
                        help="how long each turnaround trial works after its first line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        os.environ["KILN_HOME"] = os.path.join(root, "home")
        ws = Workspace()
        print(f"{os.cpu_count()} cores", flush=True)
        if args.turnaround_trials:
            n, s = args.turnaround_trials, args.trial_seconds
            warm = turnaround(ws, root, n, "torch", True, s)
            cold = turnaround(ws, root, n, "torch", False, s)
            turnaround(ws, root, n, "", True, s)
            print(f"turnaround importing torch: warm {warm * 1000:.0f} ms vs cold "
                  f"{cold * 1000:.0f} ms: warm is {cold / warm:.1f}x faster", flush=True)
            exit_time = interpreter_exit("torch")
            print(f"of which a Python with torch takes {exit_time * 1000:.0f} ms to exit after "
                  f"its last line (measured alone): warm turnaround beyond that "
                  f"{(warm - exit_time) * 1000:.0f} ms", flush=True)
        if args.trials:
            scheduling(ws, root, args.trials)


if __name__ == "__main__":
    main()
