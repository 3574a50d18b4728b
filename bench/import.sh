#!/bin/bash
# Import benchmark: bulletin's CSV import against `sqlite3 .import`, in one run.
#
# Generates N rows (default 1,000,000: email, name, two attributes) in a
# shuffled order, imports them with bulletin into a fresh SQLite database
# (WAL, synchronous=FULL: its defaults), then loads the same file with the
# sqlite3 shell's .import into a table of the same shape with the same
# unique (case-insensitive) index on the address, under the same pragmas.
# Prints both rates in rows/s, their ratio, and bulletin's peak RSS.
# Targets (issue 2): ratio >= 0.5, peak RSS < 32 MB.
#
#   bench/import.sh [N]      (uses ./build/bulletin; builds it if missing)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000000}
OUT=$ROOT/bench/out
B=$ROOT/build/bulletin
mkdir -p "$OUT"
for tool in sqlite3 /usr/bin/time awk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install sqlite3 time gawk)" >&2; exit 1; }
done
if [ ! -x "$B" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build >/dev/null)
fi

CSV=$OUT/import-$N.csv
if [ ! -s "$CSV" ]; then
	echo "generating $N rows into $CSV" >&2
	# A multiplicative permutation of 0..N-1 spreads the keys like real data.
	awk -v n="$N" 'BEGIN {
		print "email,name,city,plan";
		srand(42);
		split("Paris,Lyon,Berlin,Madrid,Rome,Oslo,Lisbon,Vienna", cities, ",");
		for (i = 0; i < n; i++) {
			k = (i * 7919 + 104729) % n;
			printf "Reader.%07d@Example%d.org,Reader %d,%s,%s\n", k, k % 13, k, cities[k % 8 + 1], (k % 5 ? "free" : "pro");
		}
	}' > "$CSV"
fi
SIZE=$(du -h "$CSV" | cut -f1)

# --- bulletin ---
DB=$OUT/bulletin.db
rm -f "$DB" "$DB-wal" "$DB-shm"
"$B" --db "sqlite:$DB" init >/dev/null
"$B" --db "sqlite:$DB" list create bench --name Bench >/dev/null
/usr/bin/time -f "%e %M" -o "$OUT/bulletin.time" \
	"$B" --db "sqlite:$DB" import "$CSV" --list bench --confirmed --quiet > "$OUT/bulletin.out"
read -r B_SECS B_KB < "$OUT/bulletin.time"
B_LINE=$(tail -1 "$OUT/bulletin.out")
B_COUNT=$(sqlite3 "$DB" "SELECT count(*) FROM subscriptions")

# --- reference: the sqlite3 shell ---
REF=$OUT/reference.db
rm -f "$REF" "$REF-wal" "$REF-shm"
sqlite3 "$REF" "PRAGMA journal_mode=WAL;" >/dev/null
sqlite3 "$REF" "CREATE TABLE subscribers (email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT NOT NULL, city TEXT, plan TEXT);"
/usr/bin/time -f "%e %M" -o "$OUT/sqlite3.time" \
	sqlite3 -cmd "PRAGMA synchronous=FULL;" "$REF" ".import --csv --skip 1 $CSV subscribers"
read -r S_SECS S_KB < "$OUT/sqlite3.time"
S_COUNT=$(sqlite3 "$REF" "SELECT count(*) FROM subscribers")

awk -v n="$N" -v bs="$B_SECS" -v ss="$S_SECS" -v bkb="$B_KB" -v skb="$S_KB" \
    -v bc="$B_COUNT" -v sc="$S_COUNT" -v line="$B_LINE" -v size="$SIZE" 'BEGIN {
	br = n / (bs > 0 ? bs : 0.001); sr = n / (ss > 0 ? ss : 0.001);
	printf "input:            %d rows, %s (email, name, 2 attributes)\n", n, size;
	printf "bulletin import:  %8.0f rows/s  (%.2f s, %d subscriptions, peak RSS %.1f MB)\n", br, bs, bc, bkb / 1024;
	printf "                  %s\n", line;
	printf "sqlite3 .import:  %8.0f rows/s  (%.2f s, %d rows, peak RSS %.1f MB)\n", sr, ss, sc, skb / 1024;
	printf "ratio bulletin/sqlite3: %.2f  (target >= 0.50)   peak RSS: %.1f MB (target < 32)\n", br / sr, bkb / 1024;
}'
