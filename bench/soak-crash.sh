#!/bin/bash
# Crash soak (not part of `make check`): tests/smtp/crash.sh, bigger and
# repeated. Each round sends a personalised post to N subscribers (default
# 100,000) through a capturing relay on loopback while the engine is killed
# with SIGKILL KILLS times (default 100) at random moments, then checks that
# every row is accepted, nobody is skipped, extra copies <= concurrency x
# kills and in_doubt = the rows reclaimed. Runs on SQLite, and on PostgreSQL
# too when BL_TEST_PG names a server (a URI whose database the test replaces
# with fresh ones, as in `make check`).
#
#   bench/soak-crash.sh [N [KILLS [ROUNDS]]]   (uses ./build/bulletin)
# Seeds: round R of a run uses seed BASE+R-1 (BASE from BL_CRASH_SEED, else
# the time); a failing round prints its seed, and
# BL_CRASH_SEED=S bench/soak-crash.sh N KILLS 1 replays its kill timings.
# Logs: bench/out/soak-crash/. The capturing relay takes ~700 msgs/s, so a
# 100,000-recipient round takes about 3 minutes.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-100000}
KILLS=${2:-100}
ROUNDS=${3:-1}
BASE=${BL_CRASH_SEED:-$(date +%s)}
OUT=$ROOT/bench/out/soak-crash
B=$ROOT/build/bulletin
if [ ! -x "$B" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build >/dev/null) || exit 1
fi
mkdir -p "$OUT"
backends=(sqlite)
[ -n "${BL_TEST_PG:-}" ] && backends+=(postgres)

failed=0
for r in $(seq "$ROUNDS"); do
	for be in "${backends[@]}"; do
		seed=$((BASE + r - 1))
		log=$OUT/round-$r-$be.log
		t0=$SECONDS
		BULLETIN=$B BL_CLI_BACKEND=$be BL_CRASH_N=$N BL_CRASH_KILLS=$KILLS BL_CRASH_SEED=$seed \
			bash "$ROOT/tests/smtp/crash.sh" >"$log" 2>&1
		rc=$?
		bad=$(grep -c '^not ok' "$log" | tr -d ' ')
		todo=$(grep -c '^not ok.*# TODO' "$log" | tr -d ' ')
		bad=$((bad - todo))
		relay=$(sed -n 's/^# relay: //p' "$log")
		kills=$(sed -n 's/^# \([0-9]* kills .*\)/\1/p' "$log")
		printf 'round %d %-8s seed %d: %s in %d s; %s\n' "$r" "$be" "$seed" \
			"$([ "$rc" = 0 ] && [ "$bad" = 0 ] && echo ok || echo FAILED)" $((SECONDS - t0)) "$kills"
		printf '    relay: %s\n' "$relay"
		grep '^not ok' "$log" | sed 's/^/    /'
		if [ "$rc" != 0 ] || [ "$bad" != 0 ]; then
			failed=$((failed + 1))
			echo "    log: $log (replay: BL_CRASH_SEED=$seed $0 $N $KILLS 1)"
		fi
	done
done
echo "soak: $((ROUNDS * ${#backends[@]})) rounds of $N recipients and $KILLS kills, $failed failed"
[ "$failed" = 0 ]
