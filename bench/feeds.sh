#!/bin/bash
# Feeds and digests benchmark (issue 6), each figure beside a reference
# measured in the same run:
#
#   1. parsing: every feed of $BL_CORPORA/real-feeds (the files expected.tsv
#      lists) parsed REPS times (default 100) by bl_feed_parse
#      (build/bench_feeds: files read into memory once), MB/s and items/s in
#      CPU time; reference: `xmllint --noout --recover --repeat` (libxml2's
#      own parser building and freeing the tree, 100 repetitions per
#      --repeat) on the same files, CPU time (user + system). Then parse +
#      item key + sanitise of each item's content or summary: the per-item
#      work of a first poll apart from the store, items/s.
#   2. a poll end to end: `bulletin feed poll` of the 1.6 MB giantbomb
#      podcast feed (730 items) served by tests/feed/fixture_server.py on
#      127.0.0.1 (feed_allow_private on): a first poll (a fresh feed: 730
#      items marked seen), a 304 poll (the same feed again), and a first poll
#      with --backfill 730 (730 new items, 730 posts); each POLL_RUNS times
#      (default 5), fresh databases for the first polls, median wall time of
#      the whole process. Reference: `curl -s -o /dev/null` of the same URL
#      (the fetch alone), median of as many.
#   3. digests at scale on SQLite: N subscribers (default 100,000; CSV
#      import --confirmed) on one list, every second one switched to daily by
#      SQL (UPDATE subscriptions SET mode; `subscriber set --mode` is one
#      process per address). POSTS posts (default 20) created and queued
#      with `post send` (each queues a row per instant subscriber: N/2
#      rows; its median wall time is the post_queue reference), then their
#      rows recorded as accepted and the posts as sent by SQL (the state a
#      relay's 250 would leave; draining N/2 x POSTS messages is not what
#      is measured here). Then `digest run --now --no-send` is timed (the
#      digest_create of N/2 rows: rows/s against post_queue's), and the
#      digest is drained by `bulletin send --once` into a maildir
#      (msgs/s: each message a digest_posts query and a render of POSTS
#      excerpts), against the same drain of one more post of the same body
#      queued to the N/2 instant subscribers. The maildirs are on a RAM disk
#      (BENCH_MAILDIR, default /dev/shm): the relay's fsyncs of 34 KB and
#      4 KB files are not what is compared; the ledger's commits (SQLite in
#      BENCH_TMPDIR) are.
#
#   bench/feeds.sh [N [REPS]]   (uses ./build/bulletin and ./build/bench_feeds;
#                               builds them if missing)
# Environment: BL_CORPORA (default ../shared/corpora), POLL_RUNS, POSTS,
# BENCH_TMPDIR (databases; default /tmp), BENCH_MAILDIR (default /dev/shm). Results:
# bench/out/feeds/ (logs) and bench/out/feeds.txt (the summary). Needs
# xmllint (libxml2-utils), curl, sqlite3, jq, /usr/bin/python3, GNU time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-100000}
REPS=${2:-100}
POLL_RUNS=${POLL_RUNS:-5}
POSTS=${POSTS:-20}
CORPORA=${BL_CORPORA:-$ROOT/../shared/corpora}
FEEDS=$CORPORA/real-feeds
B=$ROOT/build/bulletin
BF=$ROOT/build/bench_feeds
OUT=$ROOT/bench/out/feeds
SUMMARY=$ROOT/bench/out/feeds.txt
for tool in xmllint curl sqlite3 jq /usr/bin/python3 /usr/bin/time awk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install libxml2-utils curl sqlite3 jq python3 time gawk)" >&2; exit 1; }
done
[ -s "$FEEDS/expected.tsv" ] || { echo "bench: no $FEEDS/expected.tsv (set BL_CORPORA)" >&2; exit 1; }
if [ $((REPS % 100)) -ne 0 ] || [ "$REPS" -eq 0 ]; then
	echo "bench: REPS must be a multiple of 100 (xmllint --repeat parses 100 times)" >&2
	exit 2
fi
if [ ! -x "$B" ] || [ ! -x "$BF" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build bulletin bench_feeds >/dev/null)
fi
mkdir -p "$OUT"
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/bl-bench-feeds-XXXXXX")
MAILDIRS=$(mktemp -d "${BENCH_MAILDIR:-/dev/shm}/bl-bench-feeds-XXXXXX")
pids=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_traps bench/feeds.sh
trap 'bench_cleanup; rm -rf "$MAILDIRS"' EXIT

now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# timed CMD...: run CMD (output to the log), print its wall seconds
timed() {
	local t0 t1
	t0=$(now)
	"$@" >>"$OUT/commands.log" 2>&1
	t1=$(now)
	secs "$t0" "$t1"
}
: >"$OUT/commands.log"
echo "bench/feeds.sh: $N subscribers, $REPS parse repetitions, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); logs in $OUT" >&2

# ------------------------------------------------------------------ 1. parsing
mapfile -t FILES < <(tail -n +2 "$FEEDS/expected.tsv" | cut -f1 | sed "s|^|$FEEDS/|")
read -r P_BYTES P_ITEMS P_WALL P_CPU _ < <("$BF" parse "$REPS" "${FILES[@]}")
read -r _ F_ITEMS F_WALL F_CPU _ < <("$BF" full "$REPS" "${FILES[@]}")
X_CPU=0
X_WALL=0
for _ in $(seq $((REPS / 100))); do
	/usr/bin/time -f "%U %S %e" -o "$OUT/xmllint.time" \
		xmllint --noout --recover --repeat "${FILES[@]}" >/dev/null 2>"$OUT/xmllint.err"
	read -r xu xs xe <"$OUT/xmllint.time"
	X_CPU=$(awk -v a="$X_CPU" -v u="$xu" -v s="$xs" 'BEGIN { print a + u + s }')
	X_WALL=$(awk -v a="$X_WALL" -v e="$xe" 'BEGIN { print a + e }')
done
echo "parse: bulletin $P_CPU s CPU, full $F_CPU s CPU, xmllint $X_CPU s CPU" >&2

# -------------------------------------------------------------------- 2. polls
mkdir -p "$TMP/feeds"
ln -s "$FEEDS/rss-parser/giantbomb-podcast.rss" "$TMP/feeds/giantbomb.rss"
/usr/bin/python3 "$ROOT/tests/feed/fixture_server.py" --root "$TMP/feeds" --port-file "$TMP/port" \
	2>"$OUT/fixture.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$TMP/port")/f/giantbomb.rss"
wait_http "$URL"
FEED_BYTES=$(curl -s "$URL" | wc -c)
export BULLETIN_FEED_ALLOW_PRIVATE=on
export BULLETIN_LOG_LEVEL=warn
export BULLETIN_FROM="Newsroom <letters@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_POSTAL_ADDRESS="1 Harbour Street, 1000 City"

# poll_db DIR [--backfill N]: a fresh database in DIR with list pods and the feed (id 1)
poll_db() {
	local dir=$1
	shift
	mkdir -p "$dir"
	export BULLETIN_DB="sqlite:$dir/bulletin.db"
	"$B" init >/dev/null
	"$B" list create pods --name Podcasts >/dev/null
	"$B" feed add "$URL" --list pods "$@" >/dev/null
}
# check_poll WHAT JQ-EXPR: the last poll's JSON (in $OUT/poll.json) matches
check_poll() {
	jq -e ".[0] | $2" "$OUT/poll.json" >/dev/null ||
		{ echo "bench: $1: unexpected poll result $(cat "$OUT/poll.json")" >&2; exit 1; }
}
: >"$OUT/poll-first.txt"
: >"$OUT/poll-304.txt"
: >"$OUT/poll-backfill.txt"
: >"$OUT/curl.txt"
for r in $(seq "$POLL_RUNS"); do
	poll_db "$TMP/poll-$r"
	t0=$(now)
	"$B" feed poll 1 --json >"$OUT/poll.json"
	secs "$t0" "$(now)" >>"$OUT/poll-first.txt"
	check_poll "first poll" '.ok and .items == 730 and .new_items == 730 and .posts == 0'
	t0=$(now)
	"$B" feed poll 1 --json >"$OUT/poll.json"
	secs "$t0" "$(now)" >>"$OUT/poll-304.txt"
	check_poll "304 poll" '.ok and .not_modified'
	poll_db "$TMP/backfill-$r" --backfill 730
	t0=$(now)
	"$B" feed poll 1 --json >"$OUT/poll.json"
	secs "$t0" "$(now)" >>"$OUT/poll-backfill.txt"
	check_poll "backfill poll" '.ok and .new_items == 730 and .posts == 730'
	t0=$(now)
	curl -s -o /dev/null "$URL"
	secs "$t0" "$(now)" >>"$OUT/curl.txt"
	rm -rf "$TMP/poll-$r" "$TMP/backfill-$r"
done
POLL_FIRST=$(median <"$OUT/poll-first.txt")
POLL_304=$(median <"$OUT/poll-304.txt")
POLL_BACKFILL=$(median <"$OUT/poll-backfill.txt")
CURL=$(median <"$OUT/curl.txt")
echo "polls: first $POLL_FIRST s, 304 $POLL_304 s, backfill $POLL_BACKFILL s; curl $CURL s" >&2
stop_pid "${pids[0]}"
pids=()

# ------------------------------------------------------------------ 3. digests
D=$TMP/digest
mkdir -p "$D"
export BULLETIN_DB="sqlite:$D/bulletin.db"
DBF=$D/bulletin.db
awk -v n="$N" 'BEGIN {
	print "email,name,city,plan";
	split("Paris,Lyon,Berlin,Madrid,Rome,Oslo,Lisbon,Vienna", c, ",");
	for (i = 0; i < n; i++) {
		k = (i * 7919 + 104729) % n;
		printf "reader.%07d@example%d.org,Reader %d,%s,%s\n", k, k % 13, k, c[k % 8 + 1], (k % 5 ? "free" : "pro");
	}
}' >"$D/subs.csv"
cat >"$D/body.md" <<'MD'
# Storm warning for Thursday night

The weather service expects strong winds on Thursday night. Secure what the
wind can take, keep away from the coast, and check on neighbours who live
alone. Schools stay open unless the service raises its warning to red; the
city will say so on its site by 6 a.m.

Line 4 closes between the central station and the harbour from Saturday
morning to Monday night for track work. Replacement buses run every ten
minutes; allow twenty minutes more than usual.

- [Storm checklist](https://news.example/storm)
- [Line 4 replacement map](https://news.example/line4)

[Unsubscribe]({{unsubscribe_url}}) · [Preferences]({{preferences_url}})
MD
t0=$(now)
"$B" init >/dev/null
"$B" list create news --name "Newsroom" >/dev/null
"$B" import "$D/subs.csv" --list news --confirmed --quiet >/dev/null 2>&1
sqlite3 "$DBF" "PRAGMA busy_timeout=5000; UPDATE subscriptions SET mode = 'daily' WHERE subscriber_id % 2 = 0;" >/dev/null
DAILY=$(sqlite3 "$DBF" "SELECT count(*) FROM subscriptions WHERE mode = 'daily' AND status = 'confirmed'")
INSTANT=$(sqlite3 "$DBF" "SELECT count(*) FROM subscriptions WHERE mode = 'instant' AND status = 'confirmed'")
echo "digest setup: $N imported, $DAILY daily, $INSTANT instant in $(secs "$t0" "$(now)") s" >&2
: >"$OUT/queue.txt"
for i in $(seq "$POSTS"); do
	id=$("$B" post create --list news --subject "News item $i: storms, trains and the budget" --body-file "$D/body.md")
	timed "$B" post send "$id" >>"$OUT/queue.txt"
done
QUEUED=$(sqlite3 "$DBF" "SELECT count(*) FROM deliveries")
[ "$QUEUED" -eq $((POSTS * INSTANT)) ] || { echo "bench: $QUEUED rows queued, want $((POSTS * INSTANT))" >&2; exit 1; }
QUEUE=$(median <"$OUT/queue.txt")
t0=$(now)
sqlite3 "$DBF" "PRAGMA busy_timeout=5000; BEGIN;
	UPDATE deliveries SET state = 'accepted', code = 250, reply = '2.0.0 Ok', attempts = 1,
	       first_try_at = unixepoch(), updated_at = unixepoch() WHERE state = 'pending';
	UPDATE posts SET status = 'sent', finished_at = unixepoch() WHERE status = 'sending';
	COMMIT;" >/dev/null
echo "$POSTS posts queued (median $QUEUE s each) and recorded as delivered in $(secs "$t0" "$(now)") s" >&2
sleep 1.1 # the digest's period [start, now) must hold the posts' started_at second

t0=$(now)
"$B" digest run --now --no-send --json >"$OUT/digest.json"
DIGEST_SECS=$(secs "$t0" "$(now)")
DIGEST_ID=$(jq -r '[.[] | select(.mode == "daily")][0].post_id' "$OUT/digest.json")
DIGEST_ROWS=$(jq -r '[.[] | .recipients] | add' "$OUT/digest.json")
[ "$DIGEST_ROWS" -eq "$DAILY" ] || { echo "bench: digest has $DIGEST_ROWS recipients, want $DAILY: $(cat "$OUT/digest.json")" >&2; exit 1; }

export BULLETIN_RELAY="maildir:$MAILDIRS/outbox-digest"
/usr/bin/time -f "%e %U %S" -o "$OUT/drain-digest.time" "$B" send --once >>"$OUT/commands.log" 2>&1
read -r DRAIN_DIGEST du ds <"$OUT/drain-digest.time"
CPU_DIGEST=$(awk -v u="$du" -v s="$ds" 'BEGIN { print u + s }')
DIGEST_MSGS=$(find "$MAILDIRS/outbox-digest/new" -type f | wc -l)
DIGEST_FILE=$(find "$MAILDIRS/outbox-digest/new" -type f -print -quit)
DIGEST_SIZE=$(wc -c <"$DIGEST_FILE")
DIGEST_STATUS=$("$B" post status "$DIGEST_ID" --json | jq -r '"\(.status) \(.accepted)"')
grep -q "News item $POSTS:" "$DIGEST_FILE" ||
	{ echo "bench: the digest message lacks the last post" >&2; exit 1; }
rm -rf "$MAILDIRS/outbox-digest"

id=$("$B" post create --list news --subject "News item $((POSTS + 1)): storms, trains and the budget" --body-file "$D/body.md")
QUEUE_LAST=$(timed "$B" post send "$id")
export BULLETIN_RELAY="maildir:$MAILDIRS/outbox-post"
/usr/bin/time -f "%e %U %S" -o "$OUT/drain-post.time" "$B" send --once >>"$OUT/commands.log" 2>&1
read -r DRAIN_POST pu ps <"$OUT/drain-post.time"
CPU_POST=$(awk -v u="$pu" -v s="$ps" 'BEGIN { print u + s }')
POST_MSGS=$(find "$MAILDIRS/outbox-post/new" -type f | wc -l)
POST_SIZE=$(wc -c <"$(find "$MAILDIRS/outbox-post/new" -type f -print -quit)")
rm -rf "$MAILDIRS/outbox-post"
echo "digest: $DIGEST_ROWS rows in $DIGEST_SECS s; drained $DIGEST_MSGS in $DRAIN_DIGEST s ($DIGEST_STATUS); post: $POST_MSGS in $DRAIN_POST s" >&2

# -------------------------------------------------------------------- summary
awk -v nf="${#FILES[@]}" -v reps="$REPS" -v pb="$P_BYTES" -v pi="$P_ITEMS" -v pc="$P_CPU" -v pw="$P_WALL" \
	-v fi="$F_ITEMS" -v fc="$F_CPU" -v fw="$F_WALL" -v xc="$X_CPU" -v xw="$X_WALL" \
	-v fbytes="$FEED_BYTES" -v pf="$POLL_FIRST" -v p304="$POLL_304" -v pbf="$POLL_BACKFILL" -v cu="$CURL" -v runs="$POLL_RUNS" \
	-v n="$N" -v daily="$DAILY" -v inst="$INSTANT" -v posts="$POSTS" -v q="$QUEUE" -v ql="$QUEUE_LAST" \
	-v ds="$DIGEST_SECS" -v drows="$DIGEST_ROWS" -v dd="$DRAIN_DIGEST" -v dm="$DIGEST_MSGS" -v dsz="$DIGEST_SIZE" \
	-v dp="$DRAIN_POST" -v dcpu="$CPU_DIGEST" -v pcpu="$CPU_POST" -v pm="$POST_MSGS" -v psz="$POST_SIZE" -v cores="$(nproc)" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
	mb = pb / 1e6;
	printf "bench/feeds.sh  %d cores, load %s at the end\n", cores, load;
	printf "1. parsing %d real feeds x %d (%.1f MB, %d items), CPU time\n", nf, reps, mb, pi;
	printf "   bl_feed_parse            %7.1f MB/s %9.0f items/s  (%.2f s CPU, %.2f s wall)\n", mb / pc, pi / pc, pc, pw;
	printf "   xmllint --noout --recover%7.1f MB/s %9.0f items/s  (%.2f s CPU, %.2f s wall)\n", mb / xc, pi / xc, xc, xw;
	printf "   ratio bulletin/xmllint   %7.2f\n", xc / pc;
	printf "   parse+key+sanitise       %7.1f MB/s %9.0f items/s  (%.2f s CPU, %.2f s wall)\n", mb / fc, fi / fc, fc, fw;
	printf "2. feed poll of giantbomb-podcast.rss (%d bytes, 730 items) from 127.0.0.1, median of %d, wall\n", fbytes, runs;
	printf "   first poll (730 seen)    %7.3f s  %6.0f items/s\n", pf, 730 / pf;
	printf "   304 poll                 %7.3f s\n", p304;
	printf "   --backfill 730 (730 posts)%6.3f s  %6.0f items/s\n", pbf, 730 / pbf;
	printf "   curl -s -o /dev/null     %7.3f s\n", cu;
	printf "   ratio curl/first poll    %7.2f   curl/304 poll %.2f\n", cu / pf, cu / p304;
	printf "3. digests on SQLite: %d subscribers on one list, %d daily, %d instant, %d posts in the period\n", n, daily, inst, posts;
	printf "   digest run --now --no-send  %6.2f s  %8.0f rows/s  (%d recipients)\n", ds, drows / ds, drows;
	printf "   post send (post_queue)      %6.2f s  %8.0f rows/s  (%d rows; median of %d; one more after the digest %.2f s)\n", q, inst / q, inst, posts, ql;
	printf "   ratio digest/post_queue     %6.2f\n", (drows / ds) / (inst / q);
	printf "   send --once, digest         %6.2f s  %8.0f msgs/s  %6.0f msgs/CPU-s  (%d messages of %d bytes, %d posts each)\n", dd, dm / dd, dm / dcpu, dm, dsz, posts;
	printf "   send --once, one post       %6.2f s  %8.0f msgs/s  %6.0f msgs/CPU-s  (%d messages of %d bytes)\n", dp, pm / dp, pm / pcpu, pm, psz;
	printf "   ratio digest/post           %6.2f  (CPU: %.2f)\n", (dm / dd) / (pm / dp), (dm / dcpu) / (pm / pcpu);
}' | tee "$SUMMARY"
