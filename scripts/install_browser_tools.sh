#!/usr/bin/env bash
# Install the tools the report's browser and PDF tests use, if they are missing:
#   - Debian's chromium (headless browser driven by Playwright; never `playwright install`)
#   - poppler-utils (pdftotext / pdftoppm: read and picture the PDF report)
#   - axe-core (accessibility checker) from npm into a project-local .cache/node_modules
# Idempotent: anything already present is left alone. Never fails the caller: if something cannot
# be installed it says so and exits 0, and the tests that need it skip with that reason.
set -uo pipefail
cd "$(dirname "$0")/.."

CACHE_DIR="${RESILIENCE_NODE_CACHE:-.cache}"
AXE="$CACHE_DIR/node_modules/axe-core/axe.min.js"
missing_debs=()
[ -x /usr/bin/chromium ] || missing_debs+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing_debs+=(poppler-utils)

if [ ${#missing_debs[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
        echo "install_browser_tools: cannot install ${missing_debs[*]}: not root and no sudo; browser tests will skip"
    else
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        echo "install_browser_tools: installing ${missing_debs[*]} with apt-get"
        if ! { $SUDO apt-get update -qq && \
               DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_debs[@]}"; }; then
            echo "install_browser_tools: apt-get could not install ${missing_debs[*]}; browser/PDF-text tests will skip"
        fi
    fi
else
    echo "install_browser_tools: chromium and poppler-utils already installed"
fi

if [ -f "$AXE" ]; then
    echo "install_browser_tools: axe-core already in $CACHE_DIR/node_modules"
elif command -v npm >/dev/null 2>&1; then
    mkdir -p "$CACHE_DIR"
    echo "install_browser_tools: installing axe-core into $CACHE_DIR/node_modules"
    if ! npm install --silent --no-audit --no-fund --prefix "$CACHE_DIR" axe-core@4 >/dev/null; then
        echo "install_browser_tools: npm could not install axe-core; accessibility test will skip"
    fi
else
    echo "install_browser_tools: npm is not installed; accessibility test will skip"
fi
exit 0
