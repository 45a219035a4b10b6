#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Builds the libFuzzer targets (build-fuzz/, clang-14, -DSANDSTORM_FUZZ=ON) and runs each for
# SECONDS_PER_TARGET (default 60) at nice 19 on one core, one after the other, then prints a
# table: wall time, CPU minutes it got, executions, coverage (cov: edges, ft: features), corpus
# size and findings.
#   - seeds: tests/fuzz/corpus/<target>/ (read only); inputs the fuzzer adds go to
#     build-fuzz/fuzz-corpus/<target>/ and are kept between runs;
#   - findings: build-fuzz/fuzz-artifacts/<target>/crash-*, leak-*, timeout-*, oom-*; the run goes
#     on after one (-fork=1 -ignore_crashes=1), so a long unattended run collects all of them.
#     Reproduce one with build-fuzz/tests/fuzz/fuzz-<target> FILE; once fixed, copy it into
#     tests/fuzz/corpus/<target>/ with a name saying what it was (ctest replays it).
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_PER=${1:-60}
shift || true
ALL=(http-request ws-handshake chat-frames spk-raw spk-signed grain-response config)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSANDSTORM_FUZZ=ON >/dev/null
fi
nice ninja -C "$BUILD" -j "${JOBS:-2}" $(printf 'fuzz-%s ' "${TARGETS[@]}") >/dev/null

# Per-target options: the longest input worth trying, and a dictionary where tokens matter.
options() {
  case "$1" in
    http-request|ws-handshake) echo "-max_len=8192 -dict=$ROOT/tests/fuzz/http.dict" ;;
    chat-frames) echo "-max_len=8192" ;;
    spk-raw|spk-signed) echo "-max_len=65536 -dict=$ROOT/tests/fuzz/spk.dict" ;;
    grain-response) echo "-max_len=4096" ;;
    config) echo "-max_len=4096 -dict=$ROOT/tests/fuzz/config.dict" ;;
  esac
}

SUMMARY=()
for t in "${TARGETS[@]}"; do
  corpus="$BUILD/fuzz-corpus/$t"
  artifacts="$BUILD/fuzz-artifacts/$t"
  log="$BUILD/fuzz-logs/$t-$(date +%Y%m%d-%H%M%S).log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  echo "== $t: ${SECONDS_PER}s (log: $log)"
  # Scratch space for the spk targets' unpacking (tmpfs).
  # /usr/bin/time: the CPU seconds the fuzzer and its workers really got (at nice 19 on a shared
  # machine that can be far less than the wall time).
  nice -n 19 /usr/bin/time -f 'cpu-seconds: %U %S' -a -o "$log.cpu" "$BUILD/tests/fuzz/fuzz-$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 \
    -ignore_timeouts=1 -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="$artifacts/" $(options "$t") ${FUZZ_ARGS:-} \
    "$corpus" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1 || true
  # Fork mode prints "#<execs>: cov: <edges> ft: <features> corp: <n> exec/s: <r> ..." lines.
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$last")
  ft=$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$last")
  corp=$(sed -E 's/.* corp: ([0-9]+).*/\1/' <<<"$last")
  cpu=$(awk '/^cpu-seconds:/ {printf "%.1f", ($2 + $3) / 60}' "$log.cpu" 2>/dev/null || true)
  findings=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
             -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  SUMMARY+=("$(printf '%-16s %6ss %8s %12s %8s %8s %6s %9s' "$t" "$SECONDS_PER" "${cpu:-?}" \
               "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$findings")")
done

printf '%-16s %7s %8s %12s %8s %8s %6s %9s\n' target wall cpu-min execs cov ft corpus findings
printf '%s\n' "${SUMMARY[@]}"
