#!/usr/bin/env bash
# The main job on a fresh machine: set up, make the tiny random gpt-oss model,
# run getp over the example requests on the CPU backend, show the output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p data
[ -f data/tiny.bin ] || build/gen_model data/tiny.bin --preset tiny
build/getp data/tiny.bin -m getp -i examples/requests.txt -o data/output.txt -n 32
echo "--- data/output.txt (a random model: the text is noise, the pipeline is real)"
cat data/output.txt
