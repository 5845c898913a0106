#!/usr/bin/env bash
# The predict-only install (issue #13): a second fresh venv with the base install alone (no `train`
# extra, so no torch), then `cli.py predict` on a fixture model with `import torch` made to fail.
# Usage: .ci/lean_predict.sh FULL_VENV_PYTHON   (the full venv builds the fixture model)
set -euo pipefail
cd "$(dirname "$0")/.."
full_python="$1"
work="$(mktemp -d)"
# 1. a tiny catalog and model, made with the training install
"$full_python" - "$work" <<'PY'
import sys
from pathlib import Path

import torch

from finetune.options import FinetuneConfig
from finetune.train import run_finetune
from tests.conftest import write_catalog

torch.set_num_threads(1)
work = Path(sys.argv[1])
root = write_catalog(work, n_train=12, n_val=4, layout="A", size=16, seed=0)
(work / "root.txt").write_text(str(root))
run_finetune(FinetuneConfig(data=root, encoder=None, image_size=16, out=work / "model", epochs=1, ensemble=1,
                            hidden=8, batch_size=8, rerender_aug=0, baselines=False, folds=1, threads=1,
                            workers=1, progress=False, device="cpu"))
PY
# 2. the lean install, and predict there with torch blocked
python3 -m venv "$work/lean"
"$work/lean/bin/pip" install -q -e .
echo "lean install: $(du -sm "$work/lean" | cut -f1) MB"
"$work/lean/bin/python" -c "
import sys, runpy
sys.modules['torch'] = None  # any import of torch now fails
sys.argv = ['cli.py', 'predict', '--data', open('$work/root.txt').read(), '--model', '$work/model',
            '--out', '$work/pred.csv', '--no-progress']
runpy.run_path('cli.py', run_name='__main__')"
"$work/lean/bin/python" -c "
import pandas as pd
p = pd.read_csv('$work/pred.csv')
assert list(p.columns) == ['id_global', 'Temperature', 'Tint'] and len(p) == 4, p
print('lean predict without torch: OK,', len(p), 'rows')"
rm -rf "$work"
