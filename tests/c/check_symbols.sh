#!/bin/sh
# check_symbols.sh HEADER LIBRARY GO_PACKAGE_DIR
#
# Checks that the public header and the shared library agree:
#   1. every function the header declares is exported by the library;
#   2. every ic_ function the library exports is declared in the header;
#   3. every //export directive of the Go package names an ic_ function
#      (nothing else leaks into the library's interface) and is exported,
#      and the library exports nothing else but the ic_ functions the
#      package's C files define (ic_buffer_free, ic_string_free);
#   4. the library's private C helpers (icgo_*) are not exported;
#   5. IC_ABI_VERSION / IC_VERSION_NUMBER of the header are what the Go
#      package builds into ic_abi_version / ic_version_number (it reads the
#      macros through cgo, so this holds by construction; checked here too).
# Parameter and return types are checked at build time: the cgo preamble
# includes the header, so a prototype that disagrees with its export fails
# the build (see capi/capi.h).
set -eu
header=$1
lib=$2
pkg=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declared functions: names followed by "(" in the preprocessed header
# (comments gone), excluding the typedef'd struct and enum names.
${CC:-cc} -E -P -x c "$header" | grep -oE '\bic_[a-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' | sort -u >"$tmp/declared"
nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | grep '^ic_' | sort -u >"$tmp/exported"
{
  grep -h '^//export ' "$pkg"/*.go | awk '{ print $2 }'
  # Functions defined at the top level of the C files, not static or hidden.
  grep -hE '^[A-Za-z_][A-Za-z0-9_ *]*[ *]ic_[a-z0-9_]+\(' "$pkg"/*.c | grep -vE '^(static|HIDDEN)\b' |
    grep -oE '\bic_[a-z0-9_]+\(' | tr -d '('
} | sort -u >"$tmp/directives"

status=0
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/diff1"; then
  echo "check_symbols: header and library disagree (- declared only, + exported only):"
  grep -E '^[-+]ic_' "$tmp/diff1" || true
  status=1
fi
if grep -v '^ic_' "$tmp/directives"; then
  echo "check_symbols: //export of a function without the ic_ prefix (above)"
  status=1
fi
if ! diff -u "$tmp/directives" "$tmp/exported" >"$tmp/diff2"; then
  echo "check_symbols: //export directives and C definitions disagree with the library's exports:"
  grep -E '^[-+]ic_' "$tmp/diff2" || true
  status=1
fi
if nm -D --defined-only "$lib" | awk '{ print $3 }' | grep -E '^icgo_'; then
  echo "check_symbols: private helpers exported (above)"
  status=1
fi
if [ $status -eq 0 ]; then
  echo "check_symbols: $(wc -l <"$tmp/declared") functions declared in $header, all exported by $lib, nothing else"
fi
exit $status
