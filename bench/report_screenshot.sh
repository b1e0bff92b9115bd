#!/usr/bin/env bash
# Check that a study's report.html renders in headless Chromium: take a full-page
# screenshot, then check that the page's DOM holds every inline figure and table and that
# the screenshot is not blank (many colours, and dark text pixels in the table area).
#   bench/report_screenshot.sh runs/mnist-optimizers-2ep            # -> report-screenshot.png there
#   bench/report_screenshot.sh runs/mnist-optimizers-2ep shot.png
# Needs Debian's chromium (apt-get install -y chromium) and python3 with Pillow.
set -euo pipefail
dir=${1:?usage: bench/report_screenshot.sh STUDY_DIR [OUT.png]}
out=${2:-$dir/report-screenshot.png}
html=$(realpath "$dir/report.html")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The flags keep Chromium off the network (closed here) and out of any user profile.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --hide-scrollbars --user-data-dir="$profile")
dom=$(chromium "${flags[@]}" --dump-dom "file://$html" 2>/dev/null)
svgs=$(grep -o '<svg' <<<"$dom" | wc -l)
tables=$(grep -o '<table' <<<"$dom" | wc -l)
chromium "${flags[@]}" --window-size=1280,3600 --screenshot="$out" "file://$html" 2>/dev/null
python3 -W ignore - "$out" "$svgs" "$tables" <<'PY'
import sys
from PIL import Image
path, svgs, tables = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
img = Image.open(path).convert("RGB")
w, h = img.size
small = img.resize((w // 4, h // 4))
colours = len(set(small.getdata()))
dark = sum(1 for p in img.crop((0, 0, w, 600)).getdata() if sum(p) < 200)
print(f"{path}: {w}x{h}, {colours} colours, {dark} dark pixels in the top 600 rows; DOM: {svgs} svg figures, {tables} tables")
ok = svgs >= 2 and tables >= 1 and colours > 50 and dark > 500
print("renders: OK" if ok else "renders: FAILED")
sys.exit(0 if ok else 1)
PY
