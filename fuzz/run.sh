#!/bin/sh
# fuzz/run.sh SECONDS BUILD_DIR [TARGET...]: runs each libFuzzer target of
# BUILD_DIR (built with -DLL_FUZZ=ON) for SECONDS, one after another, and
# prints for each the final executions per second and coverage.
#   New inputs go to BUILD_DIR/fuzz-work/<target>/ (the repository's corpus
#   is read, never written: `fuzz/run.sh` is safe to run on a clean tree);
#   crashes to BUILD_DIR/fuzz-artifacts/<target>/; the whole log to
#   BUILD_DIR/fuzz-logs/<target>.log (or $FUZZ_LOGS/). Exits non-zero when a target found a
#   crash, a leak or a timeout. FUZZ_FLAGS adds libFuzzer flags.
set -u
secs=${1:?seconds per target}
build=${2:?build directory}
shift 2
targets=${*:-http ws streams tx config vm}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for t in $targets; do
    bin=$build/fuzz/fuzz_$t
    work=$build/fuzz-work/$t
    art=$build/fuzz-artifacts/$t
    log=${FUZZ_LOGS:-$build/fuzz-logs}/$t.log
    mkdir -p "$work" "$art" "$(dirname "$log")"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$art/" ${FUZZ_FLAGS:-} "$work" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: … exec/s: E …"
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(printf '%s' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    eps=$(printf '%s' "$last" | sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p')
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    verdict=ok
    if [ $rc -ne 0 ]; then
        verdict="FOUND (exit $rc): see $log and $art/"
        status=1
    fi
    printf 'fuzz %-8s %6ss  runs %-9s exec/s %-6s cov %-6s ft %-6s %s\n' \
        "$t" "$secs" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$verdict"
done
exit $status
