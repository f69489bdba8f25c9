#!/bin/sh
# Installs Debian bullseye's julia (1.5.3) on a Debian bookworm machine,
# idempotently, and checks that it can throw exceptions.
#
# 1. When `julia` is missing: add the bullseye suite from the same archive
#    as the machine's own Debian source, pinned at priority 100 so that apt
#    takes from it only what bookworm does not offer (julia and the few
#    libraries only bullseye has); no bookworm package is replaced.
#
# 2. bullseye's julia 1.5.3 is built against libunwind 1.3; with bookworm's
#    libunwind8 (1.6) every exception thrown from compiled Julia code
#    segfaults inside _ULx86_64_dwarf_search_unwind_table. Instead of
#    downgrading the system's libunwind8 (strace, perf, gstreamer use it),
#    bullseye's libunwind.so.8 is unpacked into julia's private library
#    folder (/usr/lib/<triplet>/julia), which libjulia's RUNPATH searches
#    before the system folders: only julia sees it.
set -eu

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_julia.sh: need root (or sudo) to install julia with apt" >&2
        exit 1
    fi
fi

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SRC=/etc/apt/sources.list.d/icechunk-go-bullseye.sources
PIN=/etc/apt/preferences.d/icechunk-go-bullseye

add_bullseye() {
    # The archive URL of the machine's own Debian source (deb822 or one-line form).
    ARCHIVE=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        [ "$f" = "$SRC" ] && continue
        u=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
        if [ -n "$u" ]; then ARCHIVE=$u; break; fi
    done
    if [ -z "$ARCHIVE" ] && [ -f /etc/apt/sources.list ]; then
        ARCHIVE=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' /etc/apt/sources.list)
    fi
    ARCHIVE=${ARCHIVE:-http://deb.debian.org/debian}
    ARCHIVE=${ARCHIVE%/}
    if [ ! -f "$SRC" ]; then
        echo "adding the bullseye suite from $ARCHIVE ($SRC)"
        printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: %s\n' \
            "$ARCHIVE" "$KEYRING" | $SUDO tee "$SRC" >/dev/null
        NEED_UPDATE=1
    fi
    if [ ! -f "$PIN" ]; then
        echo "pinning bullseye at priority 100 ($PIN)"
        printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' | $SUDO tee "$PIN" >/dev/null
    fi
}

NEED_UPDATE=0
if ! command -v julia >/dev/null 2>&1; then
    add_bullseye
    $SUDO apt-get update -q
    NEED_UPDATE=0
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends julia
else
    echo "julia already installed: $(julia --version)"
fi

# Can this julia throw an exception from compiled code?
julia_throws() {
    julia --startup-file=no -e 'f(x) = x > 0 ? throw(ErrorException("probe")) : 0
        try f(1) catch end' >/dev/null 2>&1
}

if ! julia_throws; then
    LIBJULIA=$(ldconfig -p | awk '/libjulia\.so\.1 / { print $NF; exit }')
    [ -n "$LIBJULIA" ] || LIBJULIA=$(dpkg -L libjulia1 2>/dev/null | grep 'libjulia\.so\.1$' | head -n1)
    PRIVDIR=$(dirname "$LIBJULIA")/julia
    echo "julia crashes when it throws (libunwind mismatch); putting bullseye's libunwind.so.8 in $PRIVDIR"
    add_bullseye
    [ "$NEED_UPDATE" = 1 ] && $SUDO apt-get update -q
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    (cd "$TMP" && apt-get download -q libunwind8/bullseye)
    dpkg-deb -x "$TMP"/libunwind8_*.deb "$TMP/x"
    $SUDO mkdir -p "$PRIVDIR"
    for f in "$TMP"/x/usr/lib/*/libunwind.so.8*; do
        $SUDO cp -P "$f" "$PRIVDIR/"
    done
    if ! julia_throws; then
        echo "install_julia.sh: julia still crashes when throwing an exception" >&2
        exit 1
    fi
    echo "julia throws exceptions correctly now"
fi
julia --version
