"""Chapter 5: the speed of learning of each hidden layer in deep sigmoid networks.

Same as ``gpunn gradients``: [784, 30, 30, 10] to [784, 30, 30, 30, 30, 10], sigmoid with
N(0, 1) weights, then with N(0, 1/n_in), then ReLU; 1,000 training images, η 0.1.

    python scripts/chapter5.py [--device gpu] [--epochs 30]
"""

import json
import sys
from pathlib import Path

from common import ROOT, commit, parser

from gpunn.cli import main as gpunn_main


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    quick = args.epochs not in (None, 30)  # a quick look leaves the full run's folder alone
    folder = f"chapter5-epochs{args.epochs}" if quick else "chapter5"
    out = args.out or str(ROOT / "scripts" / "results" / folder)
    argv = ["gradients", "--out", out, "--epochs", str(args.epochs or 30), "--seed", str(args.seed)]
    argv += ["--device", args.device] if args.device else []
    argv += ["--data-dir", args.data_dir] if args.data_dir else []
    code = gpunn_main(argv)
    if code == 0:  # add the commit to the record, as the other chapters' results carry it
        path = Path(out) / "gradients.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "commit": commit()}, indent=1))
    sys.exit(code)


if __name__ == "__main__":
    main()
