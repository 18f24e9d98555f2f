#!/bin/sh
# deja demo (and so deja run's pipeline) gives the same loop events, keypoints and words with 1
# thread as with 2 (decode + ORB of the next frame overlapped with the detector).
set -eu
deja=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$deja" demo --frames 700 --vocab-images 60 --threads 1 --explain 3 --out "$dir/one" >/dev/null
"$deja" demo --frames 700 --vocab-images 60 --threads 2 --explain 3 --out "$dir/two" >/dev/null
grep -c '^loop' "$dir/one/events.txt" >/dev/null || { echo "no loop events: the comparison would be empty"; exit 1; }
cmp "$dir/one/events.txt" "$dir/two/events.txt"
cut -d, -f1,8,9,10 "$dir/one/frames.csv" > "$dir/one.cols"
cut -d, -f1,8,9,10 "$dir/two/frames.csv" > "$dir/two.cols"
cmp "$dir/one.cols" "$dir/two.cols"
echo "identical: $(grep -c '^loop' "$dir/one/events.txt") loop events over 700 frames"
