#!/usr/bin/env bash
# Generates the demo channel's clips (a few shapes the channel must normalise) with the
# ffmpeg CLI. Idempotent: existing clips are kept.
set -euo pipefail
dir=${1:-demo-media}
mkdir -p "$dir"
gen() { # name, ffmpeg args...
  local out="$dir/$1"; shift
  [ -s "$out" ] && return 0
  echo "  generating $out"
  ffmpeg -nostdin -v error -y "$@" "$out.tmp.${out##*.}" && mv "$out.tmp.${out##*.}" "$out"
}
echo "Demo clips in $dir/"
gen landscape.mp4 -f lavfi -i "testsrc2=s=1280x720:r=30:d=20" -f lavfi -i "sine=f=440:r=48000:d=20" \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -ac 2 -shortest
gen vertical.mp4 -f lavfi -i "smptebars=s=720x1280:r=25:d=15" -f lavfi -i "sine=f=660:r=44100:d=15" \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -ac 1 -shortest
gen ntsc-4x3.mkv -f lavfi -i "testsrc=s=640x480:r=30000/1001:d=15" -f lavfi -i "sine=f=330:r=48000:d=15" \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -ac 2 -shortest
gen silent-50fps.mp4 -f lavfi -i "mandelbrot=s=960x540:r=50,trim=duration=10" \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p
