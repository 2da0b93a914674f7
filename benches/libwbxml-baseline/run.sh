#!/bin/sh
# Builds the libwbxml baseline (needs libwbxml2-dev) into target/ and runs it on the golden corpus.
# Usage: benches/libwbxml-baseline/run.sh [ITERATIONS] [REPS] [xml2wbxml|wbxml2xml]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/target/libwbxml-baseline"
mkdir -p "$root/target"
# Debian's libwbxml2.pc has a broken -L path; the library is on the default search path.
cflags=$(pkg-config --cflags libwbxml2)
gcc -O2 -Wall -o "$out" "$root/benches/libwbxml-baseline/baseline.c" $cflags -lwbxml2
exec "$out" "$root/testdata/messages" "${1:-2000}" "${2:-1}" ${3:+"$3"}
