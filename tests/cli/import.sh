#!/bin/bash
# bulletin import from the command line: the final count line, per-row
# errors with line numbers, dry runs, stdin, forced delimiters and formats,
# refused encodings, and that a re-import changes nothing.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
$B init >/dev/null
$B list create news --name News >/dev/null
cd "$WORK"

cat > subs.csv <<'CSV'
email,name,city,plan
ada@example.org,Ada Lovelace,London,pro
"grace@example.org","Hopper, Grace",Arlington,free
ADA@EXAMPLE.ORG,Ada Lovelace,London,pro
not an address,Bad Row,Nowhere,free
linus@example.org,Linus,Helsinki
émile@example.org,Émile,Paris,free
CSV
expect_out "final line with counts; exit 2 for invalid rows" 2 "^imported 2, updated 0, skipped 4 \(invalid 3, duplicate 1\)$" $B import subs.csv --list news
if printf '%s' "$ERR" | grep -q "subs.csv:5: invalid address \"not an address\"" &&
	printf '%s' "$ERR" | grep -q "subs.csv:6: has 3 fields; the header has 4" &&
	printf '%s' "$ERR" | grep -q "subs.csv:7: invalid address \"émile@example.org\".*smtputf8"; then
	ok "row errors name file, line and problem"
else
	not_ok "row errors name file, line and problem" "$ERR"
fi
run $B subscriber show grace@example.org --json
same "quoted name with a comma; extra columns are attributes" "$(printf '%s' "$OUT" | jq -c '[.name, .attributes]')" '["Hopper, Grace",{"city":"Arlington","plan":"free"}]'
expect_out "smtputf8 on accepts the UTF-8 local part" 2 "^imported 1, updated 0, skipped 5 \(invalid 2, duplicate 3\)$" env BULLETIN_SMTPUTF8=true $B import subs.csv --list news
BEFORE=$($B export)
expect_out "re-import: everything is a duplicate" 2 "^imported 0, updated 0, skipped 6 \(invalid 2, duplicate 4\)$" env BULLETIN_SMTPUTF8=true $B import subs.csv --list news
same "re-import changes nothing" "$($B export)" "$BEFORE"

printf 'email,name\nnew1@example.org,N1\nnew2@example.org,N2\n' > new.csv
expect_out "dry run counts" 0 "dry run: nothing was written" $B import new.csv --list news --dry-run
expect_out "dry run final line" 0 "^imported 2, updated 0, skipped 0" $B import new.csv --list news --dry-run
same "dry run wrote nothing" "$($B export)" "$BEFORE"
run $B import new.csv --list news --json
same "--json counts" "$(printf '%s' "$OUT" | jq -c '{imported,updated,skipped,invalid,duplicate,format}')" '{"imported":2,"updated":0,"skipped":0,"invalid":0,"duplicate":0,"format":"generic"}'
expect_out "standard input" 0 "^imported 1, updated 0, skipped 0" sh -c "printf 'email\nstdin@example.org\n' | $B import - --list news"
printf 'Email;Name\r\nsemi@example.org;Semi Colon\r\n' > semi.csv
expect_out "semicolons detected" 0 "^imported 1," $B import semi.csv --list news
printf 'email|name\npipe@example.org|Pipe\n' > pipe.csv
expect_out "forced delimiter" 0 "^imported 1," $B import pipe.csv --list news --delimiter '|'
printf '# from Medium\nJane Doe <jane.plain@example.org>\nplain2@example.org\n\nDoe, John <john.plain@example.org>\n"Roe, Rita" <rita.plain@example.org>\n' > plain.txt
expect_out "plain address list, comments and Name <address> lines" 0 "^imported 4," $B import plain.txt --list news
run $B subscriber show rita.plain@example.org --json
same "name with a comma in a plain list" "$(printf '%s' "$OUT" | jq -r .name)" "Roe, Rita"
expect_out "forced plain format" 0 "^imported 0, updated 0, skipped 4 \(invalid 0, duplicate 4\)" $B import plain.txt --list news --from-format plain
printf 'email,name\nq@example.org,"unterminated\n' > quote.csv
expect_out "CSV syntax error names file and line" 2 "quote.csv:2: " $B import quote.csv --list news

printf 'email,name\nzoe@example.org,Zo\xeb\n' > latin1.csv
expect_out "Latin-1 refused with the conversion command" 2 "iconv" $B import latin1.csv --list news
printf '\xff\xfee\0m\0a\0i\0l\0\n\0' > utf16.csv
expect_out "UTF-16 refused" 2 "UTF-16" $B import utf16.csv --list news
expect_out "missing file" 2 "cannot read nope.csv" $B import nope.csv --list news
expect_out "unknown list" 2 "no list \"sports\"" $B import new.csv --list sports
expect_out "--list required" 2 "--list SLUG is required" $B import new.csv
printf 'name,city\nx,y\n' > noemail.csv
expect_out "no email column" 2 "no email column" $B import noemail.csv --list news
expect_out "bad --from-format" 1 "unknown --from-format" $B import new.csv --list news --from-format excel
expect_out "bad --delimiter" 1 "--delimiter must be one character" $B import new.csv --list news --delimiter ';;'
expect_out "import needs a file" 1 "exactly one FILE" $B import --list news
printf 'email,attributes\nbig@example.org,"{""plan"":""gold"",""score"":1e20}"\n' > big.csv
$B import big.csv --list news >/dev/null
printf 'email,city\nbig@example.org,Oslo\n' > big2.csv
$B import big2.csv --list news >/dev/null
run $B subscriber show big@example.org --json
same "large numbers in attributes survive a merge" "$(printf '%s' "$OUT" | jq -c '.attributes | [.plan, .city, (.score > 1e19)]')" '["gold","Oslo",true]'
expect_out "subscriber add checks every list first" 2 "nothing was added" $B subscriber add half@example.org --list news --list nolist
expect_out "... and wrote nothing" 2 "no subscriber" $B subscriber show half@example.org
printf 'email|name\nx@example.org|X\n' > pipes.csv
expect_out "a '|' header gets a hint" 2 "try --delimiter" $B import pipes.csv --list news --delimiter ,
run $B list show news --json
same "counts after all of it" "$(printf '%s' "$OUT" | jq -c .counts)" '{"unconfirmed":13,"confirmed":0,"unsubscribed":0}'

done_testing
