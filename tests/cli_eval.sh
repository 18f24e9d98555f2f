#!/bin/sh
# deja eval and deja run --report / --events end to end on a generated sequence written by deja
# synth: the score is sane, the report has its charts, saved events score as the live run does,
# and sequences without truth or with a broken truth file fail with a clear message.
set -eu
deja=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$deja" synth --frames 1100 --width 320 --height 240 "$dir/w" >/dev/null
"$deja" synth --frames 300 --width 320 --height 240 --seed 8 "$dir/train" >/dev/null
"$deja" vocab train -o "$dir/v.dvoc" "$dir/train/images" >/dev/null 2>&1

# 1. eval: one table row; precision judged by the loose truth, recall by the strict one
"$deja" eval --vocab "$dir/v.dvoc" --loose --report "$dir/rep" "$dir/w" >"$dir/eval.txt" 2>"$dir/eval.err" \
    || { cat "$dir/eval.err"; fail "deja eval"; }
row=$(grep '^| w |' "$dir/eval.txt") || fail "no table row: $(cat "$dir/eval.txt")"
echo "$row"
echo "$row" | awk -F'|' '{ if ($4 < 100 || $6 < 0.95 || $7 < 0.5) exit 1 }' \
    || fail "weak score (queries >= 100, precision >= 0.95, recall >= 0.5 expected)"

# 2. the report: the page embeds the charts it wrote (PNG when built with libpng)
if grep -q UNSUPPORTED "$dir/eval.err"; then
    echo "report skipped: built without libpng"
else
    for c in time memory pr matrix trajectory; do
        head -c 8 "$dir/rep/w-$c.png" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a' || fail "w-$c.png is not a PNG"
    done
    [ "$(grep -o 'data:image/png;base64,' "$dir/rep/index.html" | wc -l)" -eq 5 ] || fail "index.html lacks 5 charts"
fi

# 3. deja run --events, then deja eval --events: the same precision and recall as the live run
"$deja" run --vocab "$dir/v.dvoc" --quiet --events "$dir/ev.txt" "$dir/w" >"$dir/run.txt" 2>/dev/null || fail "deja run"
grep -q '^score: precision' "$dir/run.txt" || fail "deja run did not score a sequence with truth"
"$deja" eval --events "$dir/ev.txt" "$dir/w" >"$dir/saved.txt" || fail "deja eval --events"
live=$("$deja" eval --vocab "$dir/v.dvoc" "$dir/w" | grep '^| w |' | cut -d'|' -f3-7)
saved=$(grep '^| w |' "$dir/saved.txt" | cut -d'|' -f3-7)
[ "$live" = "$saved" ] || fail "saved events score '$saved', the live run '$live'"

# 4. clear errors
mkdir "$dir/plain" && cp "$dir/w/images/000000.pgm" "$dir/w/images/000001.pgm" "$dir/plain/"
if "$deja" eval --vocab "$dir/v.dvoc" "$dir/plain" 2>"$dir/err.txt"; then fail "no truth accepted"; fi
grep -q "no ground truth" "$dir/err.txt" || fail "message: $(cat "$dir/err.txt")"
printf '1 0\n1 x\n' >"$dir/bad.txt"
if "$deja" eval --vocab "$dir/v.dvoc" --truth "$dir/bad.txt" "$dir/plain" 2>"$dir/err.txt"; then fail "bad truth accepted"; fi
grep -q "bad.txt:2" "$dir/err.txt" || fail "message: $(cat "$dir/err.txt")"
echo "eval, report, saved events and errors: ok"
