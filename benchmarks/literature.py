"""Literature check: the 1-stochastic-layer VAE of Burda et al. 2015 (IWAE paper, Table 1:
VAE, k = 1, one stochastic layer of 50 units, two deterministic layers of 200 tanh units)
on dynamically binarised MNIST, scored with the importance-sampled NLL at k = 5000.
Reference: 86.76 nats (Burda et al. trained 3280 epochs: 3^i passes at lr 0.001·10^(−i/7),
i = 0..7, batch 20).

    python benchmarks/literature.py --epochs 250 --out runs/burda-vae   # train, then score
    python benchmarks/literature.py --run runs/burda-vae                # score a trained run

Training is the command line's `vaelab train`:

    vaelab train --dataset mnist --binarize dynamic --hidden 200,200 --activation tanh \
        --latent-dim 50 --batch-size 100 --val-fraction 0 --epochs N --out DIR

(all 60 000 training images, as Burda et al.; Adam at a constant lr 1e-3). Success is an
IS-5000 NLL within 1 nat of the reference; with far fewer epochs than 3280 the gap is
the expected finding, and the script prints it with the epochs and CPU time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from pathlib import Path

REFERENCE = {"name": "VAE, 1 stochastic layer (50), 2×200 tanh (Burda et al. 2015, Table 1)",
             "nll": 86.76, "k": 5000, "epochs": 3280}
TRAIN_ARGS = ["--dataset", "mnist", "--binarize", "dynamic", "--hidden", "200,200",
              "--activation", "tanh", "--latent-dim", "50", "--batch-size", "100",
              "--val-fraction", "0", "--seed", "0", "--quiet"]


def train(out: str, epochs: int) -> dict:
    command = ["vaelab", "train", *TRAIN_ARGS, "--epochs", str(epochs), "--out", out]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"command": " ".join(command), "train_wall_seconds": wall,
            "train_cpu_seconds": usage.ru_utime + usage.ru_stime}


def score(run_dir: str, k: int, seed: int) -> dict:
    from vaelab import rundir
    from vaelab.metrics import iw_nll
    from vaelab.run import load_run

    run = load_run(run_dir)
    history = run.history
    stats = iw_nll.gather(run.model, run.data, k=k, seed=seed, progress=True)
    rundir.merge_json(run.path / rundir.METRICS_FILE, {"test": {"iw_nll": stats}})
    return {"run": run_dir, "epochs": len(history),
            "train_seconds_logged": sum(row["epoch_seconds"] for row in history),
            "nll": stats["nll"], "nll_stderr": stats["nll_stderr"], "elbo_k": stats["elbo_k"],
            "k": k, "binarization": stats["binarization"], "score_seconds": stats["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="score this trained run instead of training one")
    parser.add_argument("--out", default="runs/burda-vae")
    parser.add_argument("--epochs", type=int, default=250)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result: dict = {"reference": REFERENCE}
    run_dir = args.run
    if run_dir is None:
        result.update(train(args.out, args.epochs))
        run_dir = args.out
    result.update(score(run_dir, args.k, args.seed))
    gap = result["nll"] - REFERENCE["nll"]
    result["gap_nats"] = gap
    result["verdict"] = "reproduced (within 1 nat)" if abs(gap) <= 1 else (
        f"gap of {gap:+.2f} nats after {result['epochs']} of the reference's "
        f"{REFERENCE['epochs']} epochs")
    print(json.dumps(result, indent=2))
    Path(run_dir, "literature.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
