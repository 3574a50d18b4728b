#!/usr/bin/env bash
# Checks that the C sources follow .clang-format (one test of `make check`).
#   scripts/format-check.sh          list the files that need formatting; exit 1 if any
#   scripts/format-check.sh --fix    reformat them in place (`make format`)
#   scripts/format-check.sh --list   print the files that are checked
# Files: *.c and *.h under src/ tests/ fuzz/ tools/ and at the top level.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

files=()
dirs=()
for d in src tests fuzz tools; do
	[ -d "$d" ] && dirs+=("$d")
done
while IFS= read -r -d '' f; do
	files+=("$f")
done < <({
	[ ${#dirs[@]} -gt 0 ] && find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0
	find . -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) -printf '%P\0'
} | sort -z)

case "${1:-}" in
--list)
	[ ${#files[@]} -eq 0 ] || printf '%s\n' "${files[@]}"
	exit 0
	;;
--fix)
	[ ${#files[@]} -eq 0 ] || clang-format -i "${files[@]}"
	exit 0
	;;
"") ;;
*)
	echo "usage: $0 [--fix|--list]" >&2
	exit 2
	;;
esac

bad=()
for f in "${files[@]}"; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "format check: ${#bad[@]} of ${#files[@]} files differ from .clang-format (run: make format):"
	for f in "${bad[@]}"; do
		echo "  $f"
		# The first few places, as clang-format reports them.
		clang-format --dry-run "$f" 2>&1 | grep -E '^[^ ].*(warning|error):' | head -n 3 | sed 's/^/    /'
	done
	exit 1
fi
echo "format check: ${#files[@]} files ok ($(clang-format --version | sed 's/.*version \([0-9.]*\).*/\1/'))"
