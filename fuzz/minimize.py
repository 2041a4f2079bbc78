#!/usr/bin/env python3
"""Shrinks fuzz/corpus/TARGET to at most LIMIT files (default 300) that keep
as much edge coverage as possible.

`cargo fuzz cmin` keeps every input that adds any coverage, which for the
protocol target (serde_json's many error paths) is several hundred files. This
script asks libFuzzer for each input's coverage (a merge control file, counters
and comparison features off, so a feature is an edge), always keeps the
hand-named seeds (any file whose name is not a 40-digit hash), then adds the
fuzzer's inputs greedily, the one covering the most new edges first, until
LIMIT or until nothing adds coverage. Usage, from fuzz/:

    python3 minimize.py TARGET [LIMIT] [EXTRA_CORPUS_DIR...]
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HASH = re.compile(r"^[0-9a-f]{40}$")


def main():
    target = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    extra = sys.argv[3:]
    corpus = os.path.join("corpus", target)
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "old")
        shutil.copytree(corpus, old)
        control = os.path.join(tmp, "control")
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        subprocess.run(
            ["cargo", "+nightly", "fuzz", "run", "-O", target, out, old, *extra, "--",
             "-merge=1", "-max_len=4096", "-use_cmp=0", "-use_counters=0",
             "-merge_control_file=" + control],
            check=True,
        )
        lines = open(control).read().split("\n")
        count = int(lines[0])
        files = lines[2:2 + count]
        features = {}
        for line in lines[2 + count:]:
            parts = line.split()
            if parts and parts[0] == "FT":
                features[int(parts[1])] = set(map(int, parts[2:]))

        # Seeds are kept even when libFuzzer skipped them (an empty file).
        chosen = {n: os.path.join(old, n) for n in os.listdir(old) if not HASH.match(n)}
        covered, candidates = set(), {}
        for i, path in enumerate(files):
            name = os.path.basename(path)
            if not HASH.match(name):
                covered |= features.get(i, set())
                chosen.setdefault(name, path)
            else:
                candidates[i] = features.get(i, set())
        while len(chosen) < limit and candidates:
            best = max(candidates, key=lambda i: (len(candidates[i] - covered),
                                                  -os.path.getsize(files[i])))
            if not candidates[best] - covered:
                break
            covered |= candidates.pop(best)
            chosen[os.path.basename(files[best])] = files[best]

        everything = set().union(*features.values()) if features else set()
        shutil.rmtree(corpus)
        os.mkdir(corpus)
        for name, path in chosen.items():
            shutil.copy(path, os.path.join(corpus, name))
        print(f"{target}: kept {len(chosen)} files covering "
              f"{len(covered)} of {len(everything)} edges")


if __name__ == "__main__":
    main()
