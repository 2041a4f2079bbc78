#!/usr/bin/env python3
"""vigil-init against tini in PID namespaces (issue 3, "Benchmark").

    python3 bench/init.py [--reps 7] [--orphans 10000] [--signals 200]

Builds vigil-init (cargo, release) and bench/init-orphans.c (gcc -O2 -static),
then, for each repetition and each init (the order alternates), runs

    unshare --pid --fork --mount-proc tini -- init-orphans FIFO N
    unshare --pid --fork --mount-proc vigil-init --container \\
        --manager init-orphans -- FIFO N

and measures, in that fresh namespace:
  1. PSS of the init (/proc/PID/smaps_rollup) while the child idles;
  2. signal forwarding: SIGUSR1 sent to the namespace's PID 1 from here, the
     time from just before kill() to the child's handler (its CLOCK_MONOTONIC
     stamp, read back through the FIFO); the median of --signals signals;
  3. orphans: the child double-forks N orphans and polls /proc until no other
     process is left; the time from its first fork, the zombies left 100 ms
     later and the peak zombies seen while polling;
  4. PSS of the init again, after the orphans;
  5. the child exits 0 and the init must exit 0 too.
The same again with tini-static (Debian's) and a static vigil-init (the flags
scripts/build-release gives `vigil`), since a static binary carries no shared
libc pages in its PSS. Prints a markdown table of medians and ratios
(vigil-init / tini, static against static) and the raw
figures as JSON on stderr. It installs nothing (scripts/install-bench-deps does)
and must run as root.

    --baseline PATH   also runs this vigil-init binary (a static build of an
                      earlier commit: scripts/build-init in a checkout of it) in
                      every repetition, and prints its medians against
                      tini-static and the shipped build, to tell a change from
                      the machine's drift.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL_INIT = os.path.join(ROOT, "target", "release", "vigil-init")
SRC = os.path.join(ROOT, "bench", "init-orphans.c")
STATIC_DIR = None  # target/<host>/release, set by build()
INITS = ("tini", "vigil-init", "tini-static", "vigil-init-static")
BASELINE = None  # --baseline PATH


def build(tmp):
    global STATIC_DIR
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "vigil-init"],
        cwd=ROOT,
        check=True,
    )
    # The same flags scripts/build-release gives `vigil`: static glibc, not
    # position-independent (an explicit --target keeps them off proc macros).
    host = subprocess.run(
        ["rustc", "-vV"], capture_output=True, text=True, check=True
    ).stdout.split("host: ")[1].split()[0]
    env = dict(os.environ)
    env["RUSTFLAGS"] = "-C target-feature=+crt-static -C relocation-model=static"
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--target", host, "-p", "vigil-init"],
        cwd=ROOT,
        check=True,
        env=env,
    )
    STATIC_DIR = os.path.join(ROOT, "target", host, "release")
    child = os.path.join(tmp, "init-orphans")
    subprocess.run(["gcc", "-O2", "-static", "-o", child, SRC], check=True)
    return child


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise RuntimeError("the child closed the fifo")
        data += chunk
    return data


def read_i64(fd, n=1):
    return struct.unpack(f"={n}q", read_exact(fd, 8 * n))


def pid1_of(unshare_pid):
    """The host PID of the namespace's PID 1: unshare's only child."""
    path = f"/proc/{unshare_pid}/task/{unshare_pid}/children"
    for _ in range(5000):
        with open(path) as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.001)
    raise RuntimeError("unshare started no child")


def one_run(init, child, tmp, orphans, signals):
    fifo = os.path.join(tmp, f"fifo-{init}")
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    if init.startswith("tini"):
        cmd = [shutil.which(init), "--", child, fifo, str(orphans)]
    else:
        exe = {
            "vigil-init": VIGIL_INIT,
            "vigil-init-static": os.path.join(STATIC_DIR, "vigil-init"),
            "baseline": BASELINE,
        }[init]
        cmd = [exe, "--container", "--manager", child, "--", fifo, str(orphans)]
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc"] + cmd,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    fd = os.open(fifo, os.O_RDONLY)
    try:
        (ready,) = read_i64(fd)
        if ready != -1:
            raise RuntimeError(f"{init}: expected ready, got {ready}")
        pid1 = pid1_of(proc.pid)
        pss_idle = pss_kb(pid1)
        lat = []
        for _ in range(signals):
            t = time.monotonic_ns()
            os.kill(pid1, signal.SIGUSR1)
            (stamp,) = read_i64(fd)
            lat.append(stamp - t)
            time.sleep(0.001)
        proc.stdin.write(b"o")
        proc.stdin.flush()
        tag, fork_ns, reap_ns, zombies_left, zombies_peak = read_i64(fd, 5)
        if tag != -2:
            raise RuntimeError(f"{init}: expected the orphan record, got {tag}")
        pss_after = pss_kb(pid1)
        proc.stdin.write(b"q")
        proc.stdin.close()
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        os.close(fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {
        "pss_idle_kb": pss_idle,
        "pss_after_kb": pss_after,
        "signal_us": statistics.median(lat) / 1000,
        "signal_p99_us": sorted(lat)[int(len(lat) * 0.99) - 1] / 1000,
        "fork_ms": fork_ns / 1e6,
        "reap_ms": reap_ns / 1e6,
        "tail_ms": (reap_ns - fork_ns) / 1e6,
        "zombies_left": zombies_left,
        "zombies_peak": zombies_peak,
        "exit": proc.returncode,
        "stderr_lines": len(err.decode(errors="replace").splitlines()),
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--orphans", type=int, default=10000)
    ap.add_argument("--signals", type=int, default=200)
    ap.add_argument("--baseline", help="an earlier static vigil-init to run beside")
    args = ap.parse_args()
    global BASELINE
    inits = INITS
    if args.baseline:
        BASELINE = os.path.abspath(args.baseline)
        inits = INITS + ("baseline",)
    if os.geteuid() != 0:
        sys.exit("init.py: run as root (unshare --pid)")
    if not shutil.which("tini"):
        sys.exit("init.py: no tini; run scripts/install-bench-deps")
    tmp = tempfile.mkdtemp(prefix="vigil-init-bench-")
    try:
        child = build(tmp)
        load_before = loadavg()
        started = time.monotonic()
        runs = {i: [] for i in inits}
        for rep in range(args.reps):
            order = inits[rep % len(inits):] + inits[: rep % len(inits)]
            for init in order:
                r = one_run(init, child, tmp, args.orphans, args.signals)
                runs[init].append(r)
                print(f"rep {rep + 1} {init}: {json.dumps(r)}", file=sys.stderr)
        elapsed = time.monotonic() - started
        load_after = loadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(init, key):
        return statistics.median(r[key] for r in runs[init])

    rows = [
        ("10,000 orphans: first fork to all reaped (ms)", "reap_ms", "{:.1f}"),
        ("  of which the child's fork loop (ms)", "fork_ms", "{:.1f}"),
        ("  after the loop until all reaped (ms)", "tail_ms", "{:.2f}"),
        ("  zombies left 100 ms later (max over reps)", "zombies_left", None),
        ("  peak zombies seen while polling", "zombies_peak", "{:.0f}"),
        ("SIGUSR1 to PID 1 until the child's handler (µs)", "signal_us", "{:.1f}"),
        ("  99th percentile of the signals (µs)", "signal_p99_us", "{:.1f}"),
        ("PSS of the init, child idle (KiB)", "pss_idle_kb", "{:.0f}"),
        ("PSS of the init after the orphans (KiB)", "pss_after_kb", "{:.0f}"),
    ]
    print(
        f"| measure (median of {args.reps}) | tini | vigil-init | ratio "
        "| tini-static | vigil-init static (shipped) | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, key, fmt in rows:
        cells = []
        for a_name, b_name in (("tini", "vigil-init"), ("tini-static", "vigil-init-static")):
            if fmt is None:
                a = max(r[key] for r in runs[a_name])
                b = max(r[key] for r in runs[b_name])
                cells += [str(a), str(b), ""]
                continue
            a, b = med(a_name, key), med(b_name, key)
            ratio = f"{b / a:.2f}×" if a else ""
            cells += [fmt.format(a), fmt.format(b), ratio]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if BASELINE:
        print()
        print(f"baseline {BASELINE}: reaping {med('baseline', 'reap_ms'):.1f} ms "
              f"({med('baseline', 'reap_ms') / med('tini-static', 'reap_ms'):.2f}× tini-static; "
              f"the shipped build {med('vigil-init-static', 'reap_ms') / med('baseline', 'reap_ms'):.2f}× it), "
              f"SIGUSR1 {med('baseline', 'signal_us'):.1f} µs, PSS {med('baseline', 'pss_idle_kb'):.0f} KiB")
    exits = {i: sorted({r["exit"] for r in runs[i]}) for i in inits}
    print()
    print(f"exit statuses: {exits}; load average before {load_before}, "
          f"after {load_after}; {elapsed:.0f} s")
    json.dump(runs, sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
