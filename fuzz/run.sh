#!/bin/sh
# fuzz/run.sh — runs every libFuzzer target of a fuzz build: first each
# past crash in regressions/NAME/ (each must now pass), then SECONDS of
# fuzzing on a scratch copy of corpus/NAME/ with NAME.dict and the flags in
# NAME.options. Prints one line per target (runs, runs/s, coverage) and
# exits non-zero if any target crashed, leaked, hit UB or timed out; the
# input that did it is kept under BUILD/fuzz-artifacts/NAME/.
# Must never: write into fuzz/ (new corpus entries stay in the scratch copy).
#
# Usage: fuzz/run.sh BUILD_DIR [SECONDS [JOBS]]   (JOBS targets at a time, default 1)
set -u

# UBSan must stop at the first report, or libFuzzer would not notice it.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

here=$(cd "$(dirname "$0")" && pwd)

# One target: fuzz/run.sh --one BUILD_DIR SECONDS EXECUTABLE
if [ "${1:-}" = "--one" ]; then
    build=$2 secs=$3 exe=$4
    name=${exe##*/fuzz_}
    opts=$(grep -v "^#" "$here/$name.options" 2>/dev/null || true)
    dict=
    [ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"
    artifacts="$build/fuzz-artifacts/$name"
    mkdir -p "$artifacts"
    log="$artifacts/last-run.log"

    if [ -d "$here/regressions/$name" ]; then
        # shellcheck disable=SC2086
        if ! "$exe" $opts -runs=0 "$here/regressions/$name" >"$log" 2>&1; then
            echo "fuzz_$name: a past crash (regressions/$name) fails again; log $log:"
            grep -E 'ERROR|SUMMARY|runtime error|property failed' "$log" | head -n 10
            exit 1
        fi
    fi

    scratch=$(mktemp -d "${TMPDIR:-/tmp}/postern-fuzz-$name.XXXXXX")
    [ -d "$here/corpus/$name" ] && cp -R "$here/corpus/$name/." "$scratch/"
    # shellcheck disable=SC2086
    "$exe" $opts $dict -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$scratch" >"$log" 2>&1
    rc=$?
    rm -rf "$scratch"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
    if [ "$rc" -ne 0 ]; then
        echo "fuzz_$name: FAILED (exit $rc); input kept in $artifacts/, log $log:"
        grep -E 'ERROR|SUMMARY|runtime error|property failed|Test unit written' "$log" | head -n 10
        exit 1
    fi
    echo "fuzz_$name: ok, ${secs}s, ${runs:-?} runs (${rate:-?}/s), ${cov:-no coverage line}"
    exit 0
fi

build=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS [JOBS]]}
secs=${2:-30}
jobs=${3:-1}
targets=$(find "$build/fuzz" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
if [ -z "$targets" ]; then
    echo "no fuzz targets in $build/fuzz (set it up with -Dfuzz=true)"
    exit 1
fi
# xargs exits non-zero when any target did
echo "$targets" | xargs -P "$jobs" -I{} "$0" --one "$build" "$secs" {}
