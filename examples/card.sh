#!/usr/bin/env bash
# The example dataset card in docs/: the tour's dataset (examples/demo.sh) with its card fields
# set, written as docs/example-card.md (Hugging Face README.md) and docs/example-card.html, and
# a screenshot of the HTML card as docs/card-screenshot.png (when Chromium is installed).
# Usage: bash examples/card.sh [OUT_DIR]   (default: docs/; needs `dsreg` and `python` on PATH)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mkdir -p "${1:-$here/../docs}" && cd "${1:-$here/../docs}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export DSREG_AUTHOR="${DSREG_AUTHOR:-Demo Author <demo@example.com>}"
set -x

python "$here/make_data.py" data
dsreg init project
cd project
dsreg commit reviews train=../data/reviews-v1.parquet test=../data/test.csv -m "first version" --key id
dsreg tag reviews v1
dsreg commit reviews train=../data/reviews-v2.parquet -m "relabel 1%, drop 50, add 100"
cat > ../about.md <<'MD'
Synthetic product reviews made by `examples/make_data.py` for the dsreg tour: five words of
text, a star rating and a positive/negative label per review. The labels are random, so no
model should learn anything from them; the dataset exists to show versioning, diffs and cards.

Use `train` to train and `test` to evaluate; the `id` column is the row key.
MD
dsreg card reviews --set "pretty_name=Synthetic reviews" --set license=cc-by-4.0 --set language=en \
  --set task_categories=text-classification --set task_ids=sentiment-classification \
  --set tags=synthetic,reviews --set annotations_creators=machine-generated --set source_datasets=original \
  --set description=@../about.md --set "x-contact=data team <data@example.com>"
dsreg card reviews -o "$out/example-card.md"
dsreg card reviews --format html -o "$out/example-card.html"

browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -n "$browser" ]; then
  "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$work/chromium" \
    --screenshot="$out/card-screenshot.png" --window-size=1200,2000 "file://$out/example-card.html" 2>/dev/null
else
  echo "no Chromium: skipped the screenshot (bash scripts/setup-test.sh installs it)" >&2
fi
