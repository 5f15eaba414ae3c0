#!/usr/bin/env bash
# The tour of the README, end to end, on the embedded default: a local registry and a
# local-folder remote.
# Usage: bash examples/demo.sh [WORK_DIR]   (needs `dsreg` and `python` on PATH)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work" && cd "$work"
echo "# working in $work"
set -x

python "$here/make_data.py" data

dsreg init project
cd project
dsreg commit reviews train=../data/reviews-v1.parquet test=../data/test.csv -m "first version" --key id
dsreg tag reviews v1
dsreg commit reviews train=../data/reviews-v2.parquet -m "relabel 1%, drop 50, add 100"
dsreg log reviews
dsreg diff reviews@v1 reviews@main --stat
dsreg diff reviews@v1 reviews@main --rows --limit 3
dsreg show reviews
dsreg branch reviews experiment v1
dsreg branch reviews fix-stars
dsreg commit reviews train=../data/reviews-stars.parquet --branch fix-stars -m "fix 20 star ratings"
dsreg commit reviews train=../data/reviews-v3.parquet -m "flip 30 more labels"
dsreg merge reviews@fix-stars
dsreg log reviews --graph
dsreg ls
dsreg checkout reviews@v1 -o ../out --split test --format csv
python - <<'PY'
import dsreg
table = dsreg.load("reviews@v1", split="train", columns=["text", "label"])
print(table.num_rows, "rows of reviews@v1, commit", table.schema.metadata[b"dsreg.commit"].decode())
PY
dsreg fsck

# share it through a folder (the embedded default remote), and work on it as a colleague
mkdir ../shared
dsreg remote add origin "file://$(cd .. && pwd)/shared"
dsreg push origin reviews
dsreg clone "file://$(cd .. && pwd)/shared" ../colleague
cd ../colleague
dsreg log reviews --oneline
dsreg card reviews@v1 -o README.md
head -n 12 README.md
dsreg pull reviews@main
cd ../project
