"""The benchmark driver behind bench/run (run that, not this).

It compiles the probe, the raw floor and the harness, lays out the service
trees on a tmpfs, runs every measurement through `unshare --pid --fork
--mount-proc harness ...` (one fresh PID namespace per run), keeps every raw
figure in bench/results/<timestamp>/, and prints the markdown tables that
docs/BENCHMARKS.md quotes. It starts no service itself and never installs
anything; what a run measures is described in harness.c and BENCHMARKS.md.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BIN_DIR = os.environ.get("VIGIL_BIN_DIR", os.path.join(ROOT, "target", "release"))
VIGILD = os.path.join(BIN_DIR, "vigild")
VIGIL = os.path.join(BIN_DIR, "vigil")

SIZES = (100, 1000)
SYSTEMS = ("floor", "runit", "s6", "vigild")
SUPERVISORS = ("runit", "s6", "vigild")
# Long enough that every service has run for more than one second before it is
# killed or stopped: runsv and s6-supervise wait a second before restarting a
# service that died within a second of its start (runsv also on the way down).
SETTLE_MS = 1200
RESPAWN_N = 100
RESPAWN_KILLS = 20
STATUS_N = 1000
STATUS_SERVICE = "s500"
HYPERFINE_RUNS = 300
DAG_SEED = 20240601
DAG_EDGES = 3
CHAIN_N = 100


def age(path):
    """Back-date a directory: Debian's runsvdir waits one second before its
    first scan when the directory changed within the current second (a guard
    against half-written trees), which a real /etc/service never triggers."""
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


# Services and supervisors see a plain system PATH (runsvdir and s6-svscan look
# up runsv and s6-supervise in it).
ENV = dict(os.environ, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "kernel": os.uname().release,
        "cpu": model,
        "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "runit": sh("dpkg-query -W -f '${Version}' runit"),
        "s6": sh("dpkg-query -W -f '${Version}' s6"),
        "hyperfine": sh("hyperfine --version"),
        "gcc": sh("gcc -dumpfullversion"),
        "rustc": sh("rustc --version"),
        "vigil_commit": sh(f"git -C {ROOT} rev-parse --short HEAD")
        + (" (dirty)" if sh(f"git -C {ROOT} status --porcelain crates") else ""),
    }


class Bench:
    def __init__(self, reps, only, out):
        self.reps = reps
        self.only = only
        self.out = out
        self.logs = os.path.join(out, "logs")
        os.makedirs(self.logs)
        self.build = os.path.join(out, "build")
        os.makedirs(self.build)
        # The trees live on a tmpfs, as /run/service and friends do: runsv and
        # s6-supervise write status files on every state change.
        base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        self.work = tempfile.mkdtemp(prefix="vigil-bench.", dir=base)
        self.fifo = os.path.join(self.work, "fifo")
        self.sock = os.path.join(self.work, "control.sock")
        self.raw = open(os.path.join(out, "raw.jsonl"), "w")
        self.results = []
        self.counter = 0

    def compile(self):
        cc = ["gcc", "-O2", "-Wall", "-Wextra", "-Werror"]
        self.probe = os.path.join(self.build, "probe")
        self.floor = os.path.join(self.build, "floor")
        self.harness = os.path.join(self.build, "harness")
        subprocess.run(
            cc + ["-static", f'-DPROBE_FIFO="{self.fifo}"', os.path.join(BENCH, "probe.c"), "-o", self.probe],
            check=True,
        )
        subprocess.run(cc + [os.path.join(BENCH, "floor.c"), "-o", self.floor], check=True)
        subprocess.run(cc + [os.path.join(BENCH, "harness.c"), "-o", self.harness], check=True)

    # --- the trees -------------------------------------------------------

    def fresh(self, name):
        path = os.path.join(self.work, name)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.makedirs(path)
        return path

    def scandir(self, name, n, notify=False):
        """runsvdir's and s6-svscan's layout: one directory per service whose
        ./run is the probe itself (a symlink, so no shell runs in between).
        With `notify`, each s6 service gets a notification-fd (the probe
        reports readiness on fd 3)."""
        d = self.fresh(name)
        for i in range(n):
            os.mkdir(os.path.join(d, f"s{i}"))
            os.symlink(self.probe, os.path.join(d, f"s{i}", "run"))
            if notify:
                with open(os.path.join(d, f"s{i}", "notification-fd"), "w") as f:
                    f.write("3\n")
        return age(d)

    def vigil_conf(self, n, deps=None):
        """N services sI.service, each pulled in by default.target through a
        default.target.wants/ symlink (what `vigil enable` makes)."""
        d = self.fresh("vigil-conf")
        wants = os.path.join(d, "default.target.wants")
        os.mkdir(wants)
        with open(os.path.join(d, "default.target"), "w") as f:
            f.write("[Unit]\nDescription=benchmark\n")
        for i in range(n):
            unit = ""
            if deps and deps[i]:
                names = " ".join(f"s{j}.service" for j in deps[i])
                unit = f"[Unit]\nRequires={names}\nAfter={names}\n\n"
            with open(os.path.join(d, f"s{i}.service"), "w") as f:
                f.write(f"{unit}[Service]\nExecStart={self.probe} {i}\nRestart=always\nRestartSec=0\n")
            os.symlink(f"../s{i}.service", os.path.join(wants, f"s{i}.service"))
        age(wants)
        return age(d)

    def setup(self, system, n, deps=None):
        """The supervisor's command line and its stop request. "s6-notify" is
        s6 with a notification-fd per service (for the respawn test)."""
        if system == "floor":
            return [self.floor, str(n), self.probe], "sig:15"
        if system == "runit":
            d = self.scandir("runit", n)
            # runsvdir's HUP: TERM to every runsv, each takes its service down
            # and exits (runit's own "sv down + exit" of everything), then it exits.
            return ["runsvdir", d], "sig:1"
        if system in ("s6", "s6-notify"):
            d = self.scandir("s6", n, notify=system == "s6-notify")
            return ["s6-svscan", "-c", str(max(1000, 2 * n)), d], f"cmd:s6-svscanctl -t {d}"
        d = self.vigil_conf(n, deps)
        return (
            [VIGILD, "--config-dir", d, "--socket", self.sock],
            f"cmd:{VIGIL} --socket {self.sock} shutdown",
        )

    # --- one run ---------------------------------------------------------

    def run(self, kind, system, n, rep, extra=(), deps=None, settle=SETTLE_MS):
        argv, stop = self.setup(system, n, deps)
        self.counter += 1
        tag = f"{self.counter:03d}-{kind}-{system}-{n}-r{rep}"
        cmd = [
            "unshare", "--pid", "--fork", "--mount-proc", self.harness,
            "-f", self.fifo, "-n", str(n), "-S", str(settle), *extra, "-s", stop, "--", *argv,
        ]
        with open(os.path.join(self.logs, tag + ".stderr"), "w") as err:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, timeout=600, env=ENV)
        rec = {"kind": kind, "system": system, "n": n, "rep": rep, "exit": p.returncode,
               "respawn_ns": [], "mem_by_comm": {}}
        for line in p.stdout.splitlines():
            key, _, val = line.partition(" ")
            if key == "respawn_ns":
                rec["respawn_ns"].append(int(val))
            elif key == "mem_by_comm":
                comm, procs, pss, priv, rss = val.split()
                rec["mem_by_comm"][comm] = [int(procs), int(pss), int(priv), int(rss)]
            elif key in ("error", "stray_record", "respawn_timeout"):
                rec.setdefault(key, []).append(val)
            else:
                rec[key] = int(val)
        self.raw.write(json.dumps(rec) + "\n")
        self.raw.flush()
        self.results.append(rec)
        short = {k: v for k, v in rec.items() if k.endswith("_ns") and isinstance(v, int)}
        flag = " ERROR " + "; ".join(rec["error"]) if "error" in rec else ""
        print(f"  {tag}: " + " ".join(f"{k}={v / 1e6:.1f}ms" for k, v in short.items()) + flag,
              file=sys.stderr, flush=True)
        return rec

    # --- the plan --------------------------------------------------------

    def want(self, part):
        return not self.only or part in self.only

    def all(self):
        dag_deps = {}
        for n in SIZES:
            rng = random.Random(DAG_SEED + n)
            dag_deps[n] = [rng.sample(range(i), min(DAG_EDGES, i)) for i in range(n)]
        chain_deps = [[i - 1] if i else [] for i in range(CHAIN_N)]
        for rep in range(1, self.reps + 1):
            print(f"repetition {rep}/{self.reps}", file=sys.stderr, flush=True)
            # Rotate the order every repetition so that a slow spell of the
            # (shared) machine does not always fall on the same system.
            order = SYSTEMS[rep % 4:] + SYSTEMS[:rep % 4]
            if self.want("a") or self.want("c") or self.want("f"):
                for n in SIZES:
                    for system in order:
                        extra = ["-m"] if n == 1000 else []
                        self.run("flat", system, n, rep, extra)
            if self.want("b"):
                for n in SIZES:
                    self.run("dag", "vigild", n, rep, deps=dag_deps[n], settle=200)
                self.run("chain", "vigild", CHAIN_N, rep, deps=chain_deps, settle=200)
            if self.want("d"):
                for system in [s for s in order if s != "floor"]:
                    # s6-supervise pauses 1 s before every restart unless the
                    # service reported readiness more than 1 s earlier: the
                    # fair equivalent of RestartSec=0 is s6 with readiness.
                    system = "s6-notify" if system == "s6" else system
                    self.run("respawn", system, RESPAWN_N, rep, ["-r", str(RESPAWN_KILLS)])
                if rep == 1:
                    # plain s6, to show that pause (a few kills: each costs 1 s)
                    self.run("respawn", "s6", RESPAWN_N, rep, ["-r", "5"])
        if self.want("e"):
            self.status()

    def status(self):
        print("status commands (hyperfine)", file=sys.stderr, flush=True)
        for system in SUPERVISORS:
            if system == "vigild":
                cmd = f"{VIGIL} --socket {self.sock} status {STATUS_SERVICE}"
            elif system == "runit":
                cmd = f"sv status {self.work}/runit/{STATUS_SERVICE}"
            else:
                cmd = f"s6-svstat {self.work}/s6/{STATUS_SERVICE}"
            out = os.path.join(self.out, f"hyperfine-{system}.json")
            hf = (f"hyperfine -N --style none --warmup 30 --runs {HYPERFINE_RUNS} "
                  f"--export-json {out} '{cmd}'")
            self.run("status", system, STATUS_N, 1, ["-x", hf], settle=200)
            try:
                with open(out) as f:
                    r = json.load(f)["results"][0]
                self.results.append({"kind": "hyperfine", "system": system, "command": cmd,
                                     "mean": r["mean"], "median": r["median"],
                                     "stddev": r["stddev"], "min": r["min"], "max": r["max"],
                                     "runs": len(r["times"])})
                self.raw.write(json.dumps(self.results[-1]) + "\n")
            except (OSError, KeyError, ValueError) as e:
                print(f"  hyperfine {system}: no result ({e})", file=sys.stderr)

    def cleanup(self):
        self.raw.close()
        shutil.rmtree(self.work, ignore_errors=True)


# --- the report ----------------------------------------------------------

def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return (min(values), statistics.median(values), max(values))


def fmt(s, scale=1e6, digits=1):
    if s is None:
        return "n/a"
    lo, med, hi = (v / scale for v in s)
    return f"**{med:.{digits}f}** ({lo:.{digits}f}–{hi:.{digits}f})"


def ratio(a, b):
    if a is None or b is None or b[1] == 0:
        return "n/a"
    return f"{a[1] / b[1]:.2f}×"


def pick(results, kind, system, n, key):
    return stats([r.get(key) for r in results
                  if r["kind"] == kind and r["system"] == system and r["n"] == n and "error" not in r])


def report(results, m, reps):
    out = []
    w = out.append
    w(f"Machine: {m['nproc']} CPUs, {m['cpu']}, {m['mem_gb']} GB, kernel {m['kernel']}; "
      f"runit {m['runit']}, s6 {m['s6']}, {m['hyperfine']}, gcc {m['gcc']}, {m['rustc']}, "
      f"vigil {m['vigil_commit']}. Load average at start: {' '.join(m['loadavg'])}. "
      f"{reps} repetitions; each cell is **median** (min–max) over them.\n")
    failures = [r for r in results if "error" in r]
    if failures:
        w(f"**{len(failures)} run(s) failed**: "
          + "; ".join(f"{r['kind']}/{r['system']}/{r['n']}/rep {r['rep']}: {r['error']}" for r in failures)
          + "\n")

    w("### (a) Start N services without dependencies, until every one runs (ms)\n")
    w("| N | raw floor | runit | s6 | vigild | vigild / floor | runit / floor | s6 / floor | vigild / runit | vigild / s6 |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    a = {}
    for n in SIZES:
        a[n] = {s: pick(results, "flat", s, n, "start_ns") for s in SYSTEMS}
        w(f"| {n} | " + " | ".join(fmt(a[n][s]) for s in SYSTEMS) + " | "
          + " | ".join([ratio(a[n]["vigild"], a[n]["floor"]), ratio(a[n]["runit"], a[n]["floor"]),
                        ratio(a[n]["s6"], a[n]["floor"]), ratio(a[n]["vigild"], a[n]["runit"]),
                        ratio(a[n]["vigild"], a[n]["s6"])]) + " |")
    w("")

    w("### (b) vigild with dependencies, until every unit runs (ms)\n")
    w("| graph | vigild | / vigild without dependencies, same N | / raw floor, same N |")
    w("|---|---|---|---|")
    for n in SIZES:
        s = pick(results, "dag", "vigild", n, "start_ns")
        w(f"| random DAG, N={n}, {DAG_EDGES} Requires+After per unit | {fmt(s)} | "
          f"{ratio(s, a[n]['vigild'])} | {ratio(s, a[n]['floor'])} |")
    s = pick(results, "chain", "vigild", CHAIN_N, "start_ns")
    w(f"| chain of {CHAIN_N} | {fmt(s)} | {ratio(s, a[100]['vigild'])} | {ratio(s, a[100]['floor'])} |")
    w("")

    w("### (c) Memory of the supervision at N=1000 (MiB, summed over every process that is not a service)\n")
    w("| | processes | PSS | private | RSS | PSS / vigild |")
    w("|---|---|---|---|---|---|")
    mem = {s: pick(results, "flat", s, 1000, "mem_pss_kb") for s in SYSTEMS}
    for s in SYSTEMS:
        procs = pick(results, "flat", s, 1000, "mem_procs")
        priv = pick(results, "flat", s, 1000, "mem_private_kb")
        rss = pick(results, "flat", s, 1000, "mem_rss_kb")
        name = "raw floor (the launcher)" if s == "floor" else s
        nprocs = f"{procs[1]:.0f}" if procs else "n/a"
        w(f"| {name} | {nprocs} | {fmt(mem[s], 1024, 2)} | {fmt(priv, 1024, 2)} | "
          f"{fmt(rss, 1024, 1)} | {ratio(mem[s], mem['vigild'])} |")
    w("")

    w(f"### (d) Respawn after kill -9 (µs; per repetition the median of {RESPAWN_KILLS} kills, N={RESPAWN_N})\n")
    w("| | median of medians (min–max) | all kills pooled: median | p90 | max | / vigild |")
    w("|---|---|---|---|---|---|")
    resp, pooled = {}, {}
    names = ("runit", "s6-notify", "vigild", "s6")
    for s in names:
        runs = [r for r in results if r["kind"] == "respawn" and r["system"] == s and r["respawn_ns"]]
        resp[s] = stats([statistics.median(r["respawn_ns"]) for r in runs])
        pooled[s] = sorted(v for r in runs for v in r["respawn_ns"])
    label = {"runit": "runit (runsv)", "s6-notify": "s6 with notification-fd (readiness)",
             "vigild": "vigild (Restart=always, RestartSec=0)", "s6": "s6 without readiness (1 s pause)"}
    for s in names:
        p = pooled[s]
        if p:
            p90 = p[min(len(p) - 1, int(0.9 * len(p)))]
            extra = f"{statistics.median(p) / 1e3:.0f} | {p90 / 1e3:.0f} | {p[-1] / 1e3:.0f}"
        else:
            extra = "n/a | n/a | n/a"
        w(f"| {label[s]} | {fmt(resp[s], 1e3, 0)} | {extra} | {ratio(resp[s], resp['vigild'])} |")
    w("")

    w(f"### (e) Status of one service, whole command (hyperfine, {HYPERFINE_RUNS} runs, N={STATUS_N} running; ms)\n")
    w("| command | mean ± σ | median | min | max | median / `sv status` |")
    w("|---|---|---|---|---|---|")
    hf = {r["system"]: r for r in results if r["kind"] == "hyperfine"}
    for s in SUPERVISORS:
        r = hf.get(s)
        if not r:
            w(f"| {s} | n/a | | | | |")
            continue
        cmd = r["command"].replace(BIN_DIR + "/", "").split(" --socket ")[0]
        label = {"vigild": f"`{cmd} status {STATUS_SERVICE}`", "runit": f"`sv status DIR/{STATUS_SERVICE}`",
                 "s6": f"`s6-svstat DIR/{STATUS_SERVICE}`"}[s]
        rel = f"{r['median'] / hf['runit']['median']:.2f}×" if "runit" in hf else "n/a"
        w(f"| {label} | {r['mean'] * 1e3:.2f} ± {r['stddev'] * 1e3:.2f} | {r['median'] * 1e3:.2f} | "
          f"{r['min'] * 1e3:.2f} | {r['max'] * 1e3:.2f} | {rel} |")
    w("")

    w("### (f) Stop everything: from the request until every service process is gone, and until every process is gone (ms)\n")
    w("| N | | raw floor | runit | s6 | vigild | vigild / floor | vigild / runit | vigild / s6 |")
    w("|---|---|---|---|---|---|---|---|---|")
    f = {}
    for n in SIZES:
        for key, label in (("stop_services_ns", "services gone"), ("stop_all_ns", "all gone")):
            row = {s: pick(results, "flat", s, n, key) for s in SYSTEMS}
            f[(n, key)] = row
            w(f"| {n} | {label} | " + " | ".join(fmt(row[s]) for s in SYSTEMS) + " | "
              + " | ".join([ratio(row["vigild"], row["floor"]), ratio(row["vigild"], row["runit"]),
                            ratio(row["vigild"], row["s6"])]) + " |")
    w("")

    w("### The issue's floors\n")
    w("| floor | measured (median) | verdict |")
    w("|---|---|---|")

    def verdict(ok):
        return "n/a" if ok is None else ("**pass**" if ok else "**FAIL**")

    v, fl = a[1000]["vigild"], a[1000]["floor"]
    r = v[1] / fl[1] if v and fl else None
    w(f"| (a) N=1000 start within 1.2× the raw floor | {r:.2f}× ({v[1] / 1e6:.0f} ms vs {fl[1] / 1e6:.0f} ms) | "
      f"{verdict(r <= 1.2)} |" if r else "| (a) | n/a | n/a |")
    mv = mem["vigild"]
    w(f"| (c) supervision PSS at N=1000 under 6 MiB (the issue's peer figures are MiB) | {mv[1] / 1024:.2f} MiB | {verdict(mv[1] < 6 * 1024)} |"
      if mv else "| (c) | n/a | n/a |")
    rv = resp["vigild"]
    w(f"| (d) respawn median under 1.5 ms | {rv[1] / 1e3:.0f} µs | {verdict(rv[1] < 1.5e6)} |"
      if rv else "| (d) | n/a | n/a |")
    if "vigild" in hf and "runit" in hf:
        hv, hr = hf["vigild"]["median"], hf["runit"]["median"]
        w(f"| (e) `vigil status` no slower than `sv status` | {hv * 1e3:.2f} ms vs {hr * 1e3:.2f} ms (median) | "
          f"{verdict(hv <= hr)} |")
    else:
        w("| (e) | n/a | n/a |")
    sv_, sa = f[(1000, "stop_services_ns")]["vigild"], f[(1000, "stop_all_ns")]["vigild"]
    if sv_ and sa:
        w(f"| (f) stop all 1000 in under 100 ms | services gone {sv_[1] / 1e6:.0f} ms; vigild exited too "
          f"{sa[1] / 1e6:.0f} ms | {verdict(sv_[1] < 100e6)} (services) / {verdict(sa[1] < 100e6)} (all) |")
    else:
        w("| (f) | n/a | n/a |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="vigild against runit, s6 and a raw fork/exec floor")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "5")))
    ap.add_argument("--only", default="", help="comma-separated parts: a,b,c,d,e,f (default: all)")
    ap.add_argument("--report", metavar="DIR", help="print the tables of an earlier run's raw.jsonl")
    args = ap.parse_args()

    if args.report:
        with open(os.path.join(args.report, "raw.jsonl")) as f:
            results = [json.loads(line) for line in f]
        with open(os.path.join(args.report, "machine.json")) as f:
            m = json.load(f)
        print(report(results, m, max(r.get("rep", 1) for r in results)))
        return

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = os.path.join(BENCH, "results", stamp)
    os.makedirs(out)
    m = machine()
    with open(os.path.join(out, "machine.json"), "w") as f:
        json.dump(m, f, indent=1)
    b = Bench(args.reps, set(filter(None, args.only.split(","))), out)
    started = time.monotonic()
    try:
        b.compile()
        b.all()
    finally:
        b.cleanup()
    m["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    m["duration_s"] = round(time.monotonic() - started)
    with open(os.path.join(out, "machine.json"), "w") as f:
        json.dump(m, f, indent=1)
    text = report(b.results, m, args.reps)
    text += (f"\nLoad average at the end (this benchmark's own thousands of processes count in it): "
             f"{' '.join(m['loadavg_end'])}; the run took {m['duration_s']} s. "
             f"Raw results: bench/results/{stamp}/\n")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
