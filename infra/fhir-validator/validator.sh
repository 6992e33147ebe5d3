#!/usr/bin/env bash
# HAPI FHIR's instance validator (R4, offline) as a small Java program, built
# from Maven Central like infra/kafka/kafka.sh fetches Kafka.
#
#   validator.sh fetch           build the program and copy its jars into the cache (once per change of pom.xml or source)
#   validator.sh classpath       print the class path (fetching first if needed)
#   validator.sh run ARGS…       run it: [--definitions DIR] FILE-OR-FOLDER…  (one JSON line per file)
#
# Variables: ONESTOP_CACHE_DIR (default ~/.cache/onestop), JAVA_HOME.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
CACHE_DIR="$(abspath "${ONESTOP_CACHE_DIR:-$HOME/.cache/onestop}")"
# The cache key: the POM and the program's source. A change of either means a new build.
KEY="$(cat "$HERE/pom.xml" "$HERE"/src/main/java/onestop/fhir/*.java | sha256sum | cut -c1-16)"
DIST_DIR="$CACHE_DIR/fhir-validator-$KEY"
MARKER="$DIST_DIR/.complete"
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA="java"; fi

log() { echo "validator.sh: $*" >&2; }
die() { log "$*"; exit 1; }

cmd_fetch() {
  [[ -f "$MARKER" ]] && { log "already built in $DIST_DIR"; return 0; }
  command -v mvn >/dev/null || die "mvn not found (Maven builds the validator)"
  local tmp="$DIST_DIR.tmp.$$" build="$CACHE_DIR/fhir-validator-build.$$"
  rm -rf "$tmp" "$build"
  mkdir -p "$tmp" "$build"
  # Build outside the work tree: nothing lands in the repository's folders.
  cp -r "$HERE/pom.xml" "$HERE/src" "$build/"
  log "building the validator and fetching HAPI FHIR's jars into $DIST_DIR"
  if ! mvn -q -B -f "$build/pom.xml" package dependency:copy-dependencies \
      -DoutputDirectory="$tmp/lib" -DincludeScope=runtime >&2; then
    rm -rf "$tmp" "$build"
    die "mvn package dependency:copy-dependencies failed"
  fi
  cp "$build/target/fhir-validator-0.0.0.jar" "$tmp/lib/"
  rm -rf "$build"
  touch "$tmp/.complete"
  # A concurrent fetch may have finished first: keep whichever is in place.
  mv -T "$tmp" "$DIST_DIR" 2>/dev/null || rm -rf "$tmp"
  [[ -f "$MARKER" ]] || die "the build left no $MARKER"
  log "built: $(find "$DIST_DIR/lib" -name '*.jar' | wc -l) jars"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  classpath) cmd_fetch; echo "$DIST_DIR/lib/*" ;;
  run) shift; cmd_fetch; exec "$JAVA" -Xss4m -cp "$DIST_DIR/lib/*" onestop.fhir.Validate "$@" ;;
  *) echo "usage: $0 fetch | classpath | run [--definitions DIR] PATH…" >&2; exit 2 ;;
esac
