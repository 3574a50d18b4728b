#!/bin/bash
# Delivery benchmark: queueing a post and the engine's turn, in one run.
#
# On fresh SQLite databases (WAL, synchronous=FULL: the store's settings)
# under bench/out:
#   1. N subscribers (default 1,000,000) confirmed on a list; queue a post to
#      it (N rows): seconds, and the peak RSS of the process that queued;
#   2. M subscribers (default 200,000); queue a post to them and drain it:
#      engine turns that claim BATCH rows (default 8) and record the previous
#      turn's rows as accepted, until none is left: exchanges/s and rows/s.
# Targets (delivery engine notes): 1M rows queued in seconds with a small
# RSS; well above 20,000 rows/s drained on SQLite.
# With BL_BENCH_PG=postgresql://... (an empty database it may fill) it also
# queues the N-row post on PostgreSQL and drains M rows of it.
#
#   bench/delivery.sh [N [M [BATCH]]]   (uses ./build/bench_delivery, or
#                                       $BL_BENCH_BIN; builds it if missing)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000000}
M=${2:-200000}
BATCH=${3:-8}
OUT=$ROOT/bench/out
B=${BL_BENCH_BIN:-$ROOT/build/bench_delivery}
mkdir -p "$OUT"
if [ ! -x "$B" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build -Dtests=true >/dev/null; } &&
		ninja -C build bench_delivery >/dev/null)
fi

# step URI COUNT [drain]: COUNT subscribers, one post queued to all of them
# (and drained).
step() {
	"$B" setup "$1" "$2"
	"$B" queue "$1" all
	[ "${3:-}" = drain ] && "$B" drain "$1" "$BATCH"
	return 0
}

for n in "$N" "$M"; do
	DB=$OUT/delivery-$n.db
	rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-engine.lock"
	echo "== sqlite:$DB"
	step "sqlite:$DB" "$n" "$([ "$n" = "$M" ] && echo drain)"
	rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-engine.lock"
done
if [ -n "${BL_BENCH_PG:-}" ]; then
	echo "== $BL_BENCH_PG"
	step "$BL_BENCH_PG" "$N"
	"$B" drain "$BL_BENCH_PG" "$BATCH" "$M"
fi
