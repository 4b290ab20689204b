#!/usr/bin/env bash
# Install the system tools the test suite needs beyond Python packages, if they are missing:
#   - a Java runtime, 17 or newer (PySpark runs tests/test_spark.py on a local JVM): Debian's
#     openjdk-17-jre-headless, or the distribution's default-jre-headless where 17 is not packaged.
# Idempotent: a Java that is already there is left alone (no apt-get at all). Unlike the browser
# tools this one fails loudly: the Spark test is part of the suite, so a machine that cannot get
# Java says so here instead of later.
set -euo pipefail
cd "$(dirname "$0")/.."

java_major() {  # the major version of `java` on PATH, or 0 if there is none
    command -v java >/dev/null 2>&1 || { echo 0; return; }
    local major
    major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1)
    echo "${major:-0}"
}

if [ "$(java_major)" -ge 17 ]; then
    echo "install_test_tools: Java $(java_major) already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install_test_tools: Java 17+ is missing and this user cannot apt-get install it (not root, no sudo); install openjdk-17-jre-headless" >&2; exit 1; }
    SUDO="sudo"
fi
echo "install_test_tools: installing a Java runtime (17+) with apt-get"
$SUDO apt-get update -qq
if apt-cache show openjdk-17-jre-headless >/dev/null 2>&1; then package=openjdk-17-jre-headless; else package=default-jre-headless; fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$package"
hash -r
if [ "$(java_major)" -lt 17 ]; then
    echo "install_test_tools: installed $package but \`java\` on PATH is $(java_major) (< 17); PySpark needs 17+" >&2
    exit 1
fi
echo "install_test_tools: Java $(java_major) installed ($package)"
