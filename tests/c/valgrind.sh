#!/bin/sh
# valgrind.sh PROGRAM PLAIN_LIB_DIR VALGRIND_LIB_DIR
#
# Runs one C test program under valgrind memcheck, in two passes, and fails
# unless both are clean:
#
# 1. Memory errors (invalid reads and writes, uses of uninitialised
#    values, bad frees): the program runs against a build of the library
#    made with `go build -tags valgrind`, in which the Go runtime tells
#    memcheck about its heap and its goroutine stacks (Go >= 1.25). Without
#    those annotations memcheck reports thousands of false errors inside the
#    Go runtime (stack copies, goroutine stack switches). Async preemption
#    is turned off (GODEBUG=asyncpreemptoff=1) because its signal handler
#    spills registers below the goroutine's stack pointer, which memcheck
#    flags. go-uninit.supp drops one class of false report, uninitialised
#    values in Go code (see the file). Every other error counts:
#    --error-exitcode.
#
# 2. Leaks: the program runs against the ordinary library with
#    --leak-check=full. (The annotated runtime registers every Go object as
#    a heap block and never frees them one by one, which makes memcheck's
#    leak checker abort, so leaks are checked on the plain build, where
#    memcheck sees only C heap blocks: the library's, the program's and
#    glibc's.) Definitely, indirectly and possibly lost blocks all fail the
#    run, except the ones go.supp attributes to the Go runtime's own thread
#    creation. Every buffer, string and error string the library hands out
#    is allocated by icgo_malloc. The library remembers what it handed out
#    (so that a double free is an error code), which keeps a block the
#    caller forgot "still reachable" rather than "lost": so any block, of
#    any leak kind, that icgo_malloc allocated and that is still allocated
#    at exit fails the run too. That is the check that no
#    allocation of ours, by the library or by a caller, leaks.
set -u
prog=$1
plain=$2
annotated=$3
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$prog")
log=$(mktemp)
xml=$(mktemp)
trap 'rm -f "$log" "$xml"' EXIT

IC_TEST_UNDER_VALGRIND=1 GODEBUG=asyncpreemptoff=1 LD_LIBRARY_PATH="$annotated" \
  valgrind --tool=memcheck --error-exitcode=97 --leak-check=no --max-stackframe=200000000 \
  --suppressions="$here/go-uninit.supp" \
  --fair-sched=yes --log-file="$log" "$prog" >/dev/null
rc=$?
summary=$(grep 'ERROR SUMMARY' "$log" | tail -1 | sed 's/^==[0-9]*== //')
if [ $rc -ne 0 ]; then
  cat "$log"
  echo "valgrind: $name: memory errors pass failed (exit $rc): $summary"
  exit 1
fi
echo "valgrind: $name: memory errors pass: $summary"

IC_TEST_UNDER_VALGRIND=1 LD_LIBRARY_PATH="$plain" \
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all \
  --suppressions="$here/go.supp" --suppressions="$here/glibc.supp" --max-stackframe=200000000 --fair-sched=yes \
  --undef-value-errors=no --xml=yes --xml-file="$xml" "$prog" >/dev/null 2>&1
rc=$?
# Per leak record: its kind, and whether icgo_malloc allocated it: the
# frame right after the allocator (the stack's first frame). Deeper frames
# do not count: memcheck unwinds through the cgo call into Go stacks and
# can list a stale icgo_malloc there, which made the registry's own tables
# (calloc'd by icgo_alloc, still reachable by design) look like ours.
records=$(awk '
  /<error>/ { kind = ""; ours = 0; frames = 0 }
  /<kind>/ { kind = $0; gsub(/.*<kind>|<\/kind>.*/, "", kind) }
  /<fn>/ { frames++ }
  /<fn>[^<]*icgo_malloc<\/fn>/ && frames == 2 { ours = 1 }
  /<\/error>/ && kind ~ /^Leak_/ { print kind, ours }
' "$xml")
lost=$(echo "$records" | grep -cE '^Leak_(DefinitelyLost|IndirectlyLost|PossiblyLost) ')
ours=$(echo "$records" | grep -cE '^Leak_[A-Za-z]+ 1$')
suppressed=$(awk '/<suppcounts>/ { f = 1 } /<\/suppcounts>/ { f = 0 } f && /<count>/ { gsub(/[^0-9]/, ""); n += $0 } END { print n + 0 }' "$xml")
if [ $rc -ne 0 ] || [ "$lost" -ne 0 ] || [ "$ours" -ne 0 ]; then
  awk '/<error>/ { p = "" } { p = p "\n" $0 } /<\/error>/ && p ~ /<kind>Leak_/ { print p }' "$xml" | grep -E '<kind>|<fn>|<leakedbytes>' | head -120
  echo "valgrind: $name: leak pass failed (exit $rc; $lost lost blocks; $ours blocks of the library still allocated at exit)"
  exit 1
fi
echo "valgrind: $name: leak pass: 0 lost blocks, 0 library blocks left at exit (${suppressed} blocks of the Go runtime's and glibc's threads suppressed by go.supp and glibc.supp)"
