#!/bin/bash
# How a long dependency chain starts and stops: N services, each Requires= and
# After= the one before; `vigil start` of the top (all N start, in order),
# then `vigil stop` of the bottom (all N stop, top first). Prints the time of
# each. A scaling check for vigild itself (no peer here has dependency
# ordering to compare with); see docs/BENCHMARKS.md, "Long chains".
# usage: bench/stop-chain.sh N [--init]
#   --init: under vigil-init, as PID 1 of a PID namespace (root), where each
#   turn also saves the state vigil-init keeps.
# Builds the release binaries (scripts/build-release), or takes those in
# $VIGIL_BIN_DIR (vigil, vigild, vigil-init: an older build to compare); works in
# target/bench-chain/N, with its own unit directory and socket.
set -eu
cd "$(dirname "$0")/.."
n=${1:?usage: bench/stop-chain.sh N [--init]}
init=${2:-}
bin=${VIGIL_BIN_DIR:-$(scripts/build-release)}
dir=$PWD/target/bench-chain/$n
rm -rf "$dir"
mkdir -p "$dir/units"
for ((i = 0; i < n; i++)); do
    {
        echo "[Unit]"
        if ((i > 0)); then
            printf 'Requires=c%05d.service\nAfter=c%05d.service\n' $((i - 1)) $((i - 1))
        fi
        printf '[Service]\nExecStart=/bin/sleep infinity\n'
    } >"$dir/units/$(printf 'c%05d' "$i").service"
done
sock=$dir/control.sock
v() { "$bin/vigil" --socket "$sock" "$@"; }
ulimit -n "$(ulimit -Hn)"
# A boot target that is not there: the manager starts nothing by itself.
args=(--unit-path "$dir/units" --socket "$sock" --target none.target --log-ring-size 1K)
if [ "$init" = --init ]; then
    unshare --pid --fork --mount-proc "$bin/vigil-init" --manager "$bin/vigild" -- "${args[@]}" \
        >"$dir/manager.log" 2>&1 &
else
    "$bin/vigild" "${args[@]}" >"$dir/manager.log" 2>&1 &
fi
manager=$!
trap 'v shutdown >/dev/null 2>&1 || true; wait "$manager" || true' EXIT
until v list >/dev/null 2>&1; do sleep 0.1; done
top=$(printf 'c%05d' $((n - 1)))
t0=$(date +%s.%N)
v start "$top" >/dev/null
t1=$(date +%s.%N)
v stop c00000 >/dev/null
t2=$(date +%s.%N)
running=$(v list | grep -c "^c[0-9]*\.service  *running" || true)
awk -v n="$n" -v how="${init:-vigild}" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v r="$running" \
    'BEGIN { printf "N=%d %s: start %.2f s, stop %.2f s (%d still running)\n", n, how, t1 - t0, t2 - t1, r }'
