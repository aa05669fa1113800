"""Time from `kiln submit` to the first line of the script: a job whose environment is
already built, against the same job with no environment, measured in the same run.

    /usr/bin/python3 bench/python/env_startup.py [--runs 9]

A fresh KILN_HOME; the environment (a wheel this script builds, installed from find-links)
is built by one run first, so the timed runs reuse it. The first line's time is the one the
launcher stamped on it in logs/rank-0.log. Medians over --runs submissions of each,
alternating. Target: the environment adds under 100 ms.
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KILN = os.path.join(HERE, "..", "..", "build", "kiln")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def first_line_time(run_dir):
    with open(os.path.join(run_dir, "logs", "rank-0.log")) as f:
        stamp = f.readline().split(" ", 1)[0]
    at = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    return at.replace(tzinfo=datetime.timezone.utc).timestamp()


def submit(job, env):
    started = time.time()
    done = subprocess.run([KILN, "submit", job, "--wait"], env=env, capture_output=True,
                          text=True, check=True)
    run_id = done.stdout.splitlines()[0]
    return first_line_time(os.path.join(env["KILN_HOME"], "runs", run_id)) - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        env = dict(os.environ, KILN_HOME=os.path.join(root, "home"))
        package = os.path.join(root, "pkg")
        write(os.path.join(package, "kiln_benchpkg", "__init__.py"), "VALUE = 1\n")
        write(os.path.join(package, "setup.py"),
              "from setuptools import setup\n"
              "setup(name='kiln-benchpkg', version='1.0', packages=['kiln_benchpkg'])\n")
        wheels = os.path.join(root, "wheels")
        subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "-q",
                        "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                        "-w", wheels, "."], cwd=package, check=True)
        write(os.path.join(root, "proj", "train.py"), "print('first line', flush=True)\n")
        plain = os.path.join(root, "plain.yaml")
        write(plain, f"source_directory: {root}/proj\nentry_script: train.py\n")
        with_env = os.path.join(root, "env.yaml")
        write(with_env, f"source_directory: {root}/proj\nentry_script: train.py\n"
                        f"environment:\n  name: bench\n  pip_packages: [kiln-benchpkg]\n"
                        f"  pip_find_links: [{wheels}]\n")
        submit(with_env, env)  # builds the environment
        submit(plain, env)     # and warms the rest
        plain_s, env_s = [], []
        for _ in range(args.runs):
            plain_s.append(submit(plain, env))
            env_s.append(submit(with_env, env))
    plain_ms = statistics.median(plain_s) * 1e3
    env_ms = statistics.median(env_s) * 1e3
    print(f"submit to first line, median of {args.runs} (ms):")
    print(f"  no environment:               {plain_ms:8.1f}  (min {min(plain_s) * 1e3:.1f})")
    print(f"  environment already built:    {env_ms:8.1f}  (min {min(env_s) * 1e3:.1f})")
    print(f"  added by the environment:     {env_ms - plain_ms:8.1f}  (target < 100), "
          f"ratio {env_ms / plain_ms:.2f}")


if __name__ == "__main__":
    sys.exit(main())
