#!/bin/bash
# bulletin post schedule|unschedule, post create --at, and the scheduler in
# the delivery engine: a due post goes out with `bulletin send`, one found
# later than max_schedule_lateness is held until a person sends it. The
# clock is BULLETIN_FAKE_NOW.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_RELAY="maildir:$WORK/outbox"
NOW=1800000000 # 2027-01-15T08:00:00Z
export BULLETIN_FAKE_NOW=$NOW
$B init >/dev/null
$B list create news --name "News" --optin single >/dev/null
printf 'email,name\nann@example.org,Ann\nben@example.org,Ben\n' >"$WORK/subs.csv"
$B import "$WORK/subs.csv" --list news --confirmed >/dev/null 2>&1
printf 'Hello {{subscriber.name}}\n' >"$WORK/body.md"
outbox() { find "$WORK/outbox/new" -type f 2>/dev/null | wc -l | tr -d ' '; }

# ---- refusals ----
expect_out "create --at in the past refused" 2 "is in the past" \
	$B post create --list news --subject S --body-file "$WORK/body.md" --at 2027-01-15T07:59:59Z
expect_out "create --at now refused" 2 "is in the past" \
	$B post create --list news --subject S --body-file "$WORK/body.md" --at 2027-01-15T08:00:00Z
expect_out "create --at garbage is a usage error" 1 "--at must be a time" \
	$B post create --list news --subject S --body-file "$WORK/body.md" --at tomorrow
same "nothing created by the refusals" "$($B post ls --json | jq length)" 0

# ---- create --at, show, ls ----
expect_out "create --at prints the id" 0 "^1$" \
	$B post create --list news --subject "Morning" --body-file "$WORK/body.md" --at "2027-01-15T10:00:00+01:00"
run $B post show 1 --json
same "create --at: scheduled, at the UTC time" "$(printf '%s' "$OUT" | jq -c '{status,scheduled_at}')" \
	'{"status":"scheduled","scheduled_at":"2027-01-15T09:00:00Z"}'
expect_out "show prints the schedule time" 0 "scheduled: +2027-01-15T09:00:00Z" $B post show 1
expect_out "ls has the schedule time" 0 "1 +scheduled .*2027-01-15T09:00:00Z +Morning" $B post ls
expect_out "create without --at: draft" 0 "^2$" $B post create --list news --subject "Draft" --body-file "$WORK/body.md"
same "a draft's scheduled_at is null" "$($B post show 2 --json | jq -c .scheduled_at)" null

# ---- schedule / unschedule ----
expect_out "schedule in the past refused" 2 "is in the past" $B post schedule 2 --at "2027-01-14 08:00:00"
expect_out "schedule without --at" 1 "needs --at" $B post schedule 2
expect_out "schedule a draft" 0 "post 2 scheduled for 2027-01-15T12:00:00Z" $B post schedule 2 --at "2027-01-15 12:00:00"
expect_out "reschedule a scheduled post" 0 "scheduled for 2027-01-15T13:00:00Z" $B post schedule 2 --at 2027-01-15T13:00:00Z
expect_out "unschedule" 0 "post 2 is a draft again" $B post unschedule 2
same "unscheduled: draft, no time" "$($B post show 2 --json | jq -c '[.status,.scheduled_at]')" '["draft",null]'
expect_out "unschedule a draft refused" 2 "is draft, not scheduled" $B post unschedule 2
expect_out "schedule without a sender refused" 2 "sender" env BULLETIN_FROM= $B post schedule 2 --at 2027-01-16T00:00:00Z
same "the refused schedule left a draft" "$($B post show 2 --json | jq -r .status)" draft
expect_out "unschedule an unknown post" 2 "no post 99" $B post unschedule 99

# ---- the engine sends it at its time ----
expect "send --once before its time" 0 $B send --once
same "not sent before its time" "$(outbox)" 0
same "still scheduled" "$($B post show 1 --json | jq -r .status)" scheduled
expect_out "send --once 10 minutes after its time queues and sends it" 0 "accepted 2" \
	env BULLETIN_FAKE_NOW=$((NOW + 3600 + 600)) $B send --once
same "two messages in the outbox" "$(outbox)" 2
same "the scheduled post is sent" "$(env BULLETIN_FAKE_NOW=$((NOW + 3600 + 600)) $B post show 1 --json | jq -c '[.status,.total]')" '["sent",2]'
expect "a second run sends nothing more" 0 env BULLETIN_FAKE_NOW=$((NOW + 3600 + 700)) $B send --once
same "still two messages" "$(outbox)" 2

# ---- held when bulletin was down past max_schedule_lateness ----
expect_out "schedule post 2 for 12:00" 0 "scheduled" $B post schedule 2 --at 2027-01-15T12:00:00Z
expect_out "down until 14:30 (max 1h): held, with a warning naming the post" 0 'post 2 "Draft" held: .*2h 30m late' \
	env BULLETIN_FAKE_NOW=$((NOW + 6 * 3600 + 1800)) $B send --once
same "a held post is not sent" "$(outbox)" 2
run $B post show 2 --json
same "held: still scheduled, with the reason" "$(printf '%s' "$OUT" | jq -c '[.status, (.pause_reason | startswith("held:"))]')" '["scheduled",true]'
expect_out "ls shows the hold reason" 0 "held: scheduled for 2027-01-15T12:00:00Z" $B post ls
expect_out "max_schedule_lateness 4h: still held (a person decides)" 0 "accepted 0" \
	env BULLETIN_MAX_SCHEDULE_LATENESS=4h BULLETIN_FAKE_NOW=$((NOW + 6 * 3600 + 1900)) $B send --once
same "still not sent" "$(outbox)" 2
expect_out "a person sends it" 0 "post 2 queued: 2 deliveries" \
	env BULLETIN_FAKE_NOW=$((NOW + 7 * 3600)) $B post send 2 --wait
same "four messages" "$(outbox)" 4
same "sent by a person: sent, the hold reason gone" "$($B post show 2 --json | jq -c '[.status,.pause_reason]')" '["sent",""]'

# ---- a later lateness setting: queued at start ----
expect_out "create --at 15:00" 0 "^3$" $B post create --list news --subject "Late" --body-file "$WORK/body.md" --at 2027-01-15T15:00:00Z
expect_out "down 3 hours with max_schedule_lateness 4h: sent at start" 0 "accepted 2" \
	env BULLETIN_MAX_SCHEDULE_LATENESS=4h BULLETIN_FAKE_NOW=$((NOW + 10 * 3600)) $B send --once
same "six messages" "$(outbox)" 6

# ---- pause, resume, cancel from the command line ----
expect_out "create post 4" 0 "^4$" $B post create --list news --subject "Paused" --body-file "$WORK/body.md"
expect_out "send post 4 (queued only)" 0 "post 4 queued: 2 deliveries" $B post send 4
expect_out "pause post 4" 0 "post 4 paused" $B post pause 4
expect_out "resume post 4" 0 "post 4 sending" $B post resume 4
expect_out "cancel post 4" 0 "post 4 cancelled" $B post cancel 4
expect_out "resume a cancelled post refused" 2 "post 4 is cancelled; cannot resume it" $B post resume 4

# ---- the audit log (bulletin audit): every post write from the command line,
# refusals not, between the scheduler's own entries ----
run $B audit --json
same "bulletin audit --json: the post writes (cli) and the scheduler's, oldest first" \
	"$(printf '%s' "$OUT" | jq -c '[.[] | select(.action | startswith("post.")) | [.actor, .action, .target, .detail]] | reverse')" \
	'[["cli","post.schedule","post:2","{\"at\":\"2027-01-15T12:00:00Z\"}"],["cli","post.schedule","post:2","{\"at\":\"2027-01-15T13:00:00Z\"}"],["cli","post.unschedule","post:2",""],["scheduler","post.scheduled_send","post:1","{\"scheduled_at\":\"2027-01-15T09:00:00Z\",\"total\":2}"],["cli","post.schedule","post:2","{\"at\":\"2027-01-15T12:00:00Z\"}"],["scheduler","post.held","post:2","{\"scheduled_at\":\"2027-01-15T12:00:00Z\",\"late_seconds\":9000,\"max_schedule_lateness\":3600}"],["cli","post.send","post:2","{\"deliveries\":2}"],["scheduler","post.scheduled_send","post:3","{\"scheduled_at\":\"2027-01-15T15:00:00Z\",\"total\":2}"],["cli","post.send","post:4","{\"deliveries\":2}"],["cli","post.pause","post:4",""],["cli","post.resume","post:4",""],["cli","post.cancel","post:4",""]]'
same "audit --json: the documented keys" "$(printf '%s' "$OUT" | jq -c '.[0] | keys')" \
	'["action","actor","at","detail","id","ip","target"]'
same "audit --limit 2: the two newest" "$($B audit --json --limit 2 | jq -c '[.[] | .action]')" \
	'["post.cancel","post.resume"]'
expect_out "audit prints a table, newest first" 0 "^[0-9T:Z-]+ +cli +post.cancel +post:4" $B audit --limit 1
expect_out "audit --limit must be a number" 1 "--limit must be a number" $B audit --limit many
expect_out "audit --help" 0 "^usage: bulletin audit" $B audit --help
done_testing
