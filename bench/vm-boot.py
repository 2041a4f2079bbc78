#!/usr/bin/env python3
"""Boot time and memory in a VM: vigil against busybox init (issue 3, "Benchmark").

    python3 bench/vm-boot.py [--reps 7] [--services 20]
                             [--rev REV | --no-build | --bin-dir DIR]

Builds the release binaries (cargo build --release -p vigil-init -p vigild -p
vigil -p vigil-boot; in the working tree, or with --rev in a scratch copy of
that commit, so that others' uncommitted edits are not measured) and two
initramfs images with scripts/qemu/bench/mkbench: the same boot work (API mounts, hostname, modules-load.d, sysctl.d, the fstab
mount of a virtio ext4 disk, N long-running services in four dependency chains,
a oneshot writing to the disk), run by vigil-init + vigild + vigil-boot, or by
busybox init + /etc/rc. Then, for each repetition, boots both (the order
alternates) with scripts/qemu/boot (qemu-system-x86_64 -accel tcg, -smp 1,
Debian's kernel) on a fresh copy of one ext4 image, and reads from the console:

  - the kernel's timestamp of "Run /init as init process" (dmesg, in the guest);
  - the guest's uptime when the default target is reached: vigild's line
    "startup finished: default.target reached (uptime S s, ...)", or the line
    /etc/rc prints when it has done the same work;
  - PSS (smaps_rollup) of PID 1 and of vigild, and MemTotal - MemAvailable,
    printed by a report that runs after the target, then powers off.

Each boot holds /tmp/vigil-bench.lock (flock, shared with the other
benchmarks), and the load average is recorded before it. Prints a markdown
table of medians (min-max); console logs and the raw figures (JSON) go to
bench/results/<timestamp>-vm/. Needs qemu, busybox-static, e2fsprogs and the
kernel: scripts/install-test-deps (as root).
"""

import argparse
import fcntl
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QEMU = os.path.join(ROOT, "scripts", "qemu")
BIN_DIR = os.path.join(ROOT, "target", "release")
LOCK = "/tmp/vigil-bench.lock"
INITS = ("vigil", "busybox")
# the boots: (name, image, kernel arguments); vigil-quiet is the vigil image
# with vigild's own messages in a file rather than on the serial console
VARIANTS = (("vigil", "vigil", ""),
            ("busybox", "busybox", ""),
            ("vigil-quiet", "vigil", "vigil.manager=/sbin/vigild-quiet"))
CRATES = ["-p", "vigil-init", "-p", "vigild", "-p", "vigil", "-p", "vigil-boot"]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def git_rev():
    res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True)
    return res.stdout.strip() or "unknown"


def parse(init, log, services):
    """The figures of one console log; raises ValueError when one is missing or
    the guest did not do all of the work."""
    # the firmware's terminal resets end up in front of the first line
    text = re.sub(r"\x1b(\[[0-9;?]*[A-Za-z]|c)", "\n", log.replace("\r", ""))

    def one(pattern, what):
        m = re.search(pattern, text, re.M)
        if m is None:
            raise ValueError(f"{init}: no {what} in the console log")
        return m

    r = {}
    r["init_start"] = float(one(r"^BENCH-INIT: \[\s*([0-9.]+)\] Run /init as init process",
                                "kernel 'Run /init' time").group(1))
    if init.startswith("vigil"):
        m = one(r"startup finished: default\.target reached \(uptime ([0-9.]+) s, "
                r"([0-9.]+) s after the manager started\)", "vigild 'startup finished' line")
        r["target"] = float(m.group(1))
        r["manager_to_target"] = float(m.group(2))
        r["pss_vigild"] = int(one(r"^BENCH-PSS: vigild (\d+)$", "vigild PSS").group(1))
        if init == "vigil-quiet":
            one(r"^BENCH-QUIET: .*startup finished", "vigild's line copied from its file")
    else:
        r["target"] = float(one(r"^BENCH-TARGET: uptime ([0-9.]+)$", "rc's uptime").group(1))
    r["init_to_target"] = round(r["target"] - r["init_start"], 6)
    if "manager_to_target" in r:
        r["init_to_manager"] = round(r["init_to_target"] - r["manager_to_target"], 6)
    r["pss_init"] = int(one(r"^BENCH-PSS: init (\d+)$", "PID 1 PSS").group(1))
    r["mem_used"] = int(one(r"^BENCH-MEM: used (\d+)$", "memory in use").group(1))
    r["report_uptime"] = float(one(r"^BENCH-REPORT: uptime ([0-9.]+)$", "report").group(1))
    got = int(one(r"^BENCH-SERVICES: (\d+)$", "service count").group(1))
    if got != services:
        raise ValueError(f"{init}: {got} services running, not {services}")
    one(r"^BENCH-DISK: written at uptime", "file written on the disk")
    one(r"^BENCH-CONFIG: bench-guest vigil-bench 10 1$", "hostname, sysctl and mount check")
    return r


def build_rev(rev):
    """Builds the binaries of a commit in a scratch copy of it (git archive), so
    that uncommitted work in the tree is not what gets measured; returns the
    directory of the binaries."""
    full = run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
               capture_output=True, text=True).stdout.strip()
    src = f"/tmp/vigil-vm-bench-{full[:12]}"
    if not os.path.isdir(src):
        os.makedirs(src + ".tmp", exist_ok=True)
        archive = subprocess.Popen(["git", "archive", full], cwd=ROOT, stdout=subprocess.PIPE)
        run(["tar", "-x", "-C", src + ".tmp"], stdin=archive.stdout)
        if archive.wait() != 0:
            sys.exit(f"vm-boot: git archive {full} failed")
        os.replace(src + ".tmp", src)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(src, "target"))
    run(["cargo", "build", "--release", "--quiet"] + CRATES, cwd=src, env=env)
    return os.path.join(src, "target", "release"), full[:12]


def build(out, services, no_build):
    if not no_build:
        run(["cargo", "build", "--release", "--quiet"] + CRATES, cwd=ROOT)
    kernel = run([os.path.join(QEMU, "kernel-path")], capture_output=True, text=True).stdout.strip()
    modules = run([os.path.join(QEMU, "kernel-path"), "--modules"],
                  capture_output=True, text=True).stdout.strip()
    images = {}
    for init in INITS:
        images[init] = os.path.join(out, f"{init}.cpio.gz")
        run([os.path.join(QEMU, "bench", "mkbench"), "--init", init, "-o", images[init],
             "--bin-dir", BIN_DIR, "--modules-dir", modules, "--services", str(services)])
    template = os.path.join(out, "disk-template.img")
    run(["mkfs.ext4", "-q", "-F", "-L", "vigil-bench", template, "64M"],
        stdout=subprocess.DEVNULL)
    return kernel, images, template


def boot(init, rep, kernel, image, append, template, out, timeout):
    """One boot under the shared lock; returns (console text, host seconds, load)."""
    disk = os.path.join(out, "disk.img")
    log = os.path.join(out, f"{init}-{rep}.console.log")
    shutil.copyfile(template, disk)
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        load = loadavg()
        t0 = time.monotonic()
        res = subprocess.run([os.path.join(QEMU, "boot"), "--kernel", kernel, "--disk", disk,
                              "--log", log, "--timeout", str(timeout), "--marker", "BENCH-DONE",
                              "--append", append,
                              image], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - t0
    if res.returncode != 0:
        sys.exit(f"vm-boot: {init} boot {rep} failed ({res.returncode}): {res.stderr.strip()} "
                 f"(console: {log})")
    with open(log, encoding="utf-8", errors="replace") as f:
        return f.read(), wall, load


def stats(values):
    return statistics.median(values), min(values), max(values)


def fmt(values, digits):
    if not values:
        return "—"
    med, lo, hi = stats(values)
    return f"{med:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def table(results):
    v, q, b = results["vigil"], results["vigil-quiet"], results["busybox"]

    def col(rs, key):
        return [r[key] for r in rs if key in r]

    def ratio(xs, ys):
        if xs and ys and statistics.median(ys) > 0:
            return f"{statistics.median(xs) / statistics.median(ys):.2f}×"
        return ""

    rows = [
        ("kernel start → default target reached (s)", "target", 3),
        ("kernel start → /init runs (s)", "init_start", 3),
        ("/init runs → default target reached (s)", "init_to_target", 3),
        ("  of which /init runs → vigild's start (s)", "init_to_manager", 3),
        ("  of which vigild's start → default target reached (s)", "manager_to_target", 3),
        ("PSS of PID 1 (KiB)", "pss_init", 0),
        ("PSS of vigild (KiB)", "pss_vigild", 0),
        ("PSS of PID 1 + vigild (KiB)", "pss_total", 0),
        ("MemTotal − MemAvailable after boot (KiB)", "mem_used", 0),
        ("host wall time of the whole boot, qemu start to exit (s)", "wall", 1),
    ]
    lines = [
        f"| measure, median of {len(v)} (min–max) | vigil | vigil, vigild's messages "
        "to a file | busybox init | vigil / busybox | vigil quiet / busybox |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, digits in rows:
        vv, qv, bv = col(v, key), col(q, key), col(b, key)
        if key == "pss_total":
            bv = col(b, "pss_init")
        lines.append(f"| {label} | {fmt(vv, digits)} | {fmt(qv, digits)} | {fmt(bv, digits)} "
                     f"| {ratio(vv, bv)} | {ratio(qv, bv)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--services", type=int, default=20)
    p.add_argument("--timeout", type=int, default=120, help="seconds per boot")
    p.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    p.add_argument("--bin-dir", help="take vigil-init, vigild, vigil and vigil-boot from DIR "
                   "(implies --no-build; default target/release)")
    p.add_argument("--rev", help="build this commit in a scratch copy (/tmp/vigil-vm-bench-HASH) "
                   "instead of the working tree")
    p.add_argument("--out", help="default bench/results/<timestamp>-vm")
    args = p.parse_args()
    for tool in ["qemu-system-x86_64", "mkfs.ext4", "busybox"]:
        if shutil.which(tool) is None:
            sys.exit(f"vm-boot: no {tool} (run scripts/install-test-deps as root)")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or os.path.join(ROOT, "bench", "results", f"{stamp}-vm")
    os.makedirs(out, exist_ok=True)
    global BIN_DIR
    rev = git_rev() + " (working tree)"
    if args.bin_dir:
        BIN_DIR = os.path.abspath(args.bin_dir)
        rev = f"binaries of {BIN_DIR}"
    elif args.rev:
        BIN_DIR, rev = build_rev(args.rev)
        args.no_build = True
    kernel, images, template = build(out, args.services, args.no_build or args.bin_dir)
    meta = {"started": stamp, "git": rev, "reps": args.reps, "services": args.services,
            "kernel": os.path.basename(kernel), "bin_dir": BIN_DIR, "load_before": loadavg(),
            "image_kib": {i: os.path.getsize(images[i]) // 1024 for i in INITS}}
    print(f"vm-boot: {args.reps} reps, {args.services} services, git {meta['git']}, "
          f"load before {meta['load_before']}", file=sys.stderr)
    results = {name: [] for name, _, _ in VARIANTS}
    t0 = time.monotonic()
    for rep in range(args.reps):
        # rotate, so that no variant always follows the same one
        k = rep % len(VARIANTS)
        for init, image, append in VARIANTS[k:] + VARIANTS[:k]:
            text, wall, load = boot(init, rep, kernel, images[image], append, template, out,
                                    args.timeout)
            try:
                r = parse(init, text, args.services)
            except ValueError as e:
                sys.exit(f"vm-boot: boot {rep}: {e}")
            r.update(rep=rep, wall=round(wall, 3), load=load)
            r["pss_total"] = r["pss_init"] + r.get("pss_vigild", 0)
            results[init].append(r)
            print(f"vm-boot: {init:11} rep {rep}: target at {r['target']:.3f} s "
                  f"(/init at {r['init_start']:.3f} s), PID 1 {r['pss_init']} KiB, "
                  f"load {load}", file=sys.stderr)
    meta["seconds"] = round(time.monotonic() - t0, 1)
    meta["load_after"] = loadavg()
    with open(os.path.join(out, "raw.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(json.dumps({"meta": meta, "results": results}), file=sys.stderr)
    print(f"vm-boot: done in {meta['seconds']} s, load after {meta['load_after']}; "
          f"raw figures and console logs in {out}", file=sys.stderr)
    print(table(results))


if __name__ == "__main__":
    main()
