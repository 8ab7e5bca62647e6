#!/usr/bin/env bash
# ffmpeg_pipeline.sh - the baseline of benchmarks/bench_ingest_e2e.py: what a user would write
# with Debian's ffmpeg CLI instead of `footage ingest`, the same work on the same files, JOBS files
# at a time (xargs -P). Per file:
#   1. sha256sum of the original;
#   2. one ffmpeg pass with blackdetect + freezedetect + silencedetect (the findings stay in its
#      log, STORE/NAME/NAME.qc.log, parsed by the benchmark);
#   3. a remux to Matroska (-c copy), the archive master;
#   4. an H.264 access copy: libx264 veryfast CRF 23, scaled down to fit 1280x720 (never up),
#      AAC 128 kbit/s, index first (+faststart);
#   5. the SHA-256 of both outputs, then the original and both outputs copied into STORE/NAME/;
#   6. the copies re-hashed against the recorded sums (sha256sum -c).
# Usage: ffmpeg_pipeline.sh INBOX STORE [JOBS]     (JOBS defaults to 2; *.mp4 files of INBOX)
# Exits non-zero when any file failed.
set -euo pipefail
inbox=$1 store=$2 jobs=${3:-2}
mkdir -p "$store"

# one FILE: the whole chain for one file (each runs in its own `bash -c`, so EXIT is per file)
one() {
  set -euo pipefail
  local src=$1 store=$STORE
  local name stem dest sum
  name=$(basename "$src")
  stem=${name%.*}
  work=$(mktemp -d "${TMPDIR:-/tmp}/ffmpeg-pipeline.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  sum=$(sha256sum <"$src" | cut -d' ' -f1)
  ffmpeg -hide_banner -nostdin -nostats -i "$src" -vf blackdetect,freezedetect -af silencedetect \
    -f null - 2>"$work/$stem.qc.log"
  ffmpeg -hide_banner -nostdin -v error -i "$src" -map 0 -c copy "$work/$stem.master.mkv"
  ffmpeg -hide_banner -nostdin -v error -i "$src" -map 0:v:0 -map '0:a:0?' \
    -vf "scale=w='min(iw,1280)':h='min(ih,720)':force_original_aspect_ratio=decrease:force_divisible_by=2" \
    -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart \
    "$work/$stem.access.mp4"
  {
    echo "$sum  $name"
    (cd "$work" && sha256sum "$stem.master.mkv" "$stem.access.mp4")
  } >"$work/$stem.sha256"
  dest="$store/$stem"
  mkdir -p "$dest"
  cp "$src" "$work/$stem.master.mkv" "$work/$stem.access.mp4" "$work/$stem.qc.log" "$work/$stem.sha256" "$dest/"
  (cd "$dest" && sha256sum --quiet -c "$stem.sha256")
}
export -f one
export STORE=$store

# xargs exits 123 when any file failed: set -e passes that on.
find "$inbox" -maxdepth 1 -type f -iname '*.mp4' -print0 | xargs -0 -r -n 1 -P "$jobs" bash -c 'one "$1"' _
