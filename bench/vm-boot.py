#!/usr/bin/env python3
"""Boot time and memory in a VM: vigil against busybox init (issue 3, "Benchmark").

    python3 bench/vm-boot.py [--reps 7] [--services 20] [--variants LIST]
                             [--rev REV | --bin-dirs DYNAMIC STATIC]

Builds vigild, vigil and vigil-boot in release mode, linked dynamically and
statically (the flags scripts/build-release gives `vigil`), and the shipped
vigil-init (static, no libc, as scripts/build-init makes it), in
the working tree or, with --rev, in a scratch copy of that commit (so that
others' uncommitted edits are not what gets measured). Then three initramfs
images with scripts/qemu/bench/mkbench, all with the same boot work (API
mounts, hostname, modules-load.d, sysctl.d, the fstab mount of a virtio ext4
disk, N long-running services in four dependency chains, a oneshot writing to
the disk): vigil-init + vigild + vigil-boot (dynamic, static), or busybox init
+ /etc/rc. The variants booted (--variants, all by default):

  vigil         vigild, vigil and vigil-boot dynamic (vigil-init is always the
                shipped static one)
  vigil-static  vigild, vigil and vigil-boot static
  vigil-quiet   the dynamic image, vigild's own messages in a file instead of on
                the serial console (vigil.manager=/sbin/vigild-quiet)
  busybox       busybox init running /etc/rc

Each repetition boots every variant once (the order rotates) with
scripts/qemu/boot (qemu-system-x86_64 -accel tcg, -smp 1, Debian's kernel) on a
fresh copy of one empty ext4 image, and reads from the console:

  - the kernel's timestamp of "Run /init as init process" (dmesg, in the guest);
  - the guest's uptime when the default target is reached: vigild's line
    "startup finished: default.target reached (uptime S s, T s after the
    manager started)", or the line /etc/rc prints when it has done the same work;
  - PSS (smaps_rollup) of PID 1 and of vigild, and MemTotal - MemAvailable,
    printed by a report that runs after the target, then powers off;
  - checks that the work was done (services running, file on the disk,
    hostname, sysctl, mount): a boot that fails them stops the benchmark.

Each boot holds /tmp/vigil-bench.lock (flock(2), shared with the other
benchmarks) and records the load average before it. Prints a markdown table of
medians (min-max) and the ratios to busybox; the console logs, the images,
raw.json and summary.md go to bench/results/<timestamp>-vm/ (the raw figures
also on stderr). Needs qemu, busybox-static, e2fsprogs and the kernel:
scripts/install-test-deps (as root).
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
LOCK = "/tmp/vigil-bench.lock"
CRATES = ["-p", "vigil-init", "-p", "vigild", "-p", "vigil", "-p", "vigil-boot"]
# The flags scripts/build-release gives `vigil` (static glibc, not
# position-independent); an explicit --target keeps them off proc macros.
STATIC_FLAGS = "-C target-feature=+crt-static -C relocation-model=static"
# The boots: name -> (image, kernel arguments). vigil-quiet is the vigil image
# with vigild's own messages in a file rather than on the serial console;
# vigil-static has the four binaries linked statically.
VARIANTS = {
    "vigil": ("vigil", ""),
    "vigil-static": ("vigil-static", ""),
    "vigil-quiet": ("vigil", "vigil.manager=/sbin/vigild-quiet"),
    "busybox": ("busybox", ""),
}
LABELS = {
    "vigil": "vigil",
    "vigil-static": "vigil static",
    "vigil-quiet": "vigil, vigild quiet",
    "busybox": "busybox init",
}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def git_rev(rev):
    res = subprocess.run(["git", "rev-parse", "--short=12", rev], cwd=ROOT,
                         capture_output=True, text=True)
    return res.stdout.strip() or "unknown"


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


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
    # the runtime directories: made (vigil-rundirs, or its lines in /etc/rc) or
    # not, the same in every boot of a run (main checks)
    r["rundirs"] = one(r"^BENCH-RUNDIRS: (1777 \.\./run|none none)$", "runtime directories").group(1)
    return r


def host_triple():
    out = run(["rustc", "-vV"], capture_output=True, text=True).stdout
    return out.split("host: ")[1].split()[0]


def cargo_builds(src, target_dir):
    """The release binaries; returns two directories: vigild, vigil and vigil-boot
    linked dynamically, and all three static. Both hold the shipped vigil-init
    (static, no libc: the build of scripts/build-init)."""
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir)
    others = [c for c in CRATES if c not in ("-p", "vigil-init")]
    others = [x for c in others for x in ("-p", c)]
    run(["cargo", "build", "--release", "--quiet"] + others, cwd=src, env=env)
    host = host_triple()
    env["RUSTFLAGS"] = STATIC_FLAGS
    run(["cargo", "build", "--release", "--quiet", "--target", host] + others, cwd=src, env=env)
    # vigil-init alone, as scripts/build-init does: built with the others, it would get
    # rustix's std feature from them (docs/INIT.md, "Build")
    run(["cargo", "build", "--release", "--quiet", "--target", host, "-p", "vigil-init"],
        cwd=src, env=env)
    built = {"dynamic": os.path.join(target_dir, "release"),
             "static": os.path.join(target_dir, host, "release")}
    dirs = []
    for kind in ["dynamic", "static"]:
        out = os.path.join(target_dir, f"vm-bench-{kind}")
        os.makedirs(out, exist_ok=True)
        for name in ["vigil-init", "vigild", "vigil", "vigil-boot"]:
            origin = built["static"] if name == "vigil-init" else built[kind]
            shutil.copyfile(os.path.join(origin, name), os.path.join(out, name))
            os.chmod(os.path.join(out, name), 0o755)
        dirs.append(out)
    return dirs


def build_rev(rev):
    """Builds the binaries of a commit in a scratch copy of it (git archive), so
    that uncommitted work in the tree is not what gets measured."""
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
    return cargo_builds(src, os.path.join(src, "target")), src


def images(out, services, bin_dirs, src):
    """The initramfs images the variants boot, the kernel, and an empty disk."""
    kernel = run([os.path.join(QEMU, "kernel-path")], capture_output=True, text=True).stdout.strip()
    modules = run([os.path.join(QEMU, "kernel-path"), "--modules"],
                  capture_output=True, text=True).stdout.strip()
    made = {}
    for name, (init, bin_dir) in {"vigil": ("vigil", bin_dirs[0]),
                                  "vigil-static": ("vigil", bin_dirs[1]),
                                  "busybox": ("busybox", bin_dirs[0])}.items():
        made[name] = os.path.join(out, f"{name}.cpio.gz")
        run([os.path.join(QEMU, "bench", "mkbench"), "--init", init, "-o", made[name],
             "--bin-dir", bin_dir, "--modules-dir", modules, "--services", str(services),
             "--boot-units", os.path.join(src, "crates", "boot", "units")])
    template = os.path.join(out, "disk-template.img")
    run(["mkfs.ext4", "-q", "-F", "-L", "vigil-bench", template, "64M"],
        stdout=subprocess.DEVNULL)
    return kernel, made, template


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
    names = list(results)
    others = [n for n in names if n != "busybox"]

    def col(name, key):
        if key == "pss_total" and name == "busybox":
            key = "pss_init"
        return [r[key] for r in results[name] if key in r]

    def ratio(xs, ys):
        if xs and ys and statistics.median(ys) > 0:
            return f"{statistics.median(xs) / statistics.median(ys):.2f}×"
        return ""

    rows = [
        ("kernel start → default target reached (s)", "target", 3),
        ("kernel start → /init runs (s)", "init_start", 3),
        ("/init runs → default target reached (s)", "init_to_target", 3),
        ("  of which /init runs → vigild's start (s)", "init_to_manager", 3),
        ("  of which vigild's start → default target (s)", "manager_to_target", 3),
        ("PSS of PID 1 (KiB)", "pss_init", 0),
        ("PSS of vigild (KiB)", "pss_vigild", 0),
        ("PSS of PID 1 + vigild (KiB)", "pss_total", 0),
        ("MemTotal − MemAvailable after boot (KiB)", "mem_used", 0),
        ("host wall time of one boot, qemu start to exit (s)", "wall", 1),
    ]
    reps = len(next(iter(results.values())))
    head = [f"median of {reps} (min–max)"] + [LABELS[n] for n in names]
    if "busybox" in results:
        head += [f"{LABELS[n]} / busybox" for n in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, key, digits in rows:
        cells = [label] + [fmt(col(n, key), digits) for n in names]
        if "busybox" in results:
            cells += [ratio(col(n, key), col("busybox", key)) for n in others]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--services", type=int, default=20)
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"which boots, comma-separated (default and choices: {','.join(VARIANTS)})")
    p.add_argument("--timeout", type=int, default=120, help="seconds per boot")
    p.add_argument("--rev", help="build this commit in a scratch copy (/tmp/vigil-vm-bench-HASH) "
                   "instead of the working tree")
    p.add_argument("--bin-dirs", nargs=2, metavar=("DYNAMIC", "STATIC"),
                   help="use these binaries (vigil-init, vigild, vigil, vigil-boot), build nothing")
    p.add_argument("--out", help="default bench/results/<timestamp>-vm")
    args = p.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        sys.exit(f"vm-boot: unknown variant {unknown} (choose from {', '.join(VARIANTS)})")
    for tool in ["qemu-system-x86_64", "mkfs.ext4", "busybox"]:
        if shutil.which(tool) is None:
            sys.exit(f"vm-boot: no {tool} (run scripts/install-test-deps as root)")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or os.path.join(ROOT, "bench", "results", f"{stamp}-vm")
    os.makedirs(out, exist_ok=True)
    src = ROOT
    if args.bin_dirs:
        bin_dirs = [os.path.abspath(d) for d in args.bin_dirs]
        rev = "prebuilt"
    elif args.rev:
        bin_dirs, src = build_rev(args.rev)
        rev = git_rev(args.rev)
    else:
        bin_dirs = cargo_builds(ROOT, os.path.join(ROOT, "target"))
        rev = git_rev("HEAD") + " + working tree"
    kernel, made, template = images(out, args.services, bin_dirs, src)
    meta = {"started": stamp, "vigil": rev, "reps": args.reps, "services": args.services,
            "kernel": os.path.basename(kernel), "bin_dirs": bin_dirs,
            "load_before": loadavg(), "cpu": cpu_model(),
            "image_kib": {i: os.path.getsize(made[i]) // 1024 for i in made}}
    print(f"vm-boot: {args.reps} reps of {', '.join(variants)}, {args.services} services, "
          f"vigil {rev}, load before {meta['load_before']}", file=sys.stderr)
    results = {name: [] for name in variants}
    t0 = time.monotonic()
    for rep in range(args.reps):
        # rotate, so that no variant always follows the same one
        k = rep % len(variants)
        for name in variants[k:] + variants[:k]:
            image, append = VARIANTS[name]
            text, wall, load = boot(name, rep, kernel, made[image], append, template, out,
                                    args.timeout)
            try:
                r = parse(name, text, args.services)
            except ValueError as e:
                sys.exit(f"vm-boot: boot {rep}: {e}")
            r.update(rep=rep, wall=round(wall, 3), load=load)
            r["pss_total"] = r["pss_init"] + r.get("pss_vigild", 0)
            results[name].append(r)
            print(f"vm-boot: {name:12} rep {rep}: target at {r['target']:.3f} s "
                  f"(/init at {r['init_start']:.3f} s), PID 1 {r['pss_init']} KiB, "
                  f"load {load}", file=sys.stderr)
    meta["seconds"] = round(time.monotonic() - t0, 1)
    made_rundirs = {r["rundirs"] for rs in results.values() for r in rs}
    if len(made_rundirs) != 1:
        sys.exit(f"vm-boot: the boots disagree on the runtime directories: {made_rundirs}")
    meta["rundirs"] = made_rundirs.pop() != "none none"
    meta["load_after"] = loadavg()
    # the disks are 64 MiB each and say nothing the console did not
    for f in ["disk.img", "disk-template.img"]:
        os.remove(os.path.join(out, f))
    with open(os.path.join(out, "raw.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    summary = table(results)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(f"{json.dumps(meta)}\n\n{summary}\n")
    print(json.dumps({"meta": meta, "results": results}), file=sys.stderr)
    print(f"vm-boot: done in {meta['seconds']} s, load after {meta['load_after']}; "
          f"raw figures and console logs in {out}", file=sys.stderr)
    print(summary)


if __name__ == "__main__":
    main()
