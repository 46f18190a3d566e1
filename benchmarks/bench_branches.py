"""α-branch pruning on real data: parameters removed, accuracy kept, time and memory saved.

Takes the kit's cached reference network (course_lib/profiles/references.yaml), attaches branches
to every layer pair so that folding removes ``--remove-fraction`` of the parameters, trains with the
pretrained weights trainable while α steps from 1 to 0, folds, and prints beside the original
(the baseline, measured in the same run): the accuracy at every α stage, the folded model's test
accuracy, and parameters, FLOPs, time per image and peak inference memory with their ratios.
The issue's bar: at least 60 % of the parameters removed, test accuracy within 2 points.

The reference is the notebooks' own (vgg_small: 15 epochs, 93.8 % test on Fashion-MNIST, about
9 minutes to train on a 2-core CPU the first time); the benchmark then takes about 12 minutes.
At α = 0 a resumption at a lower learning rate (0.003) recovers what the last stage lost.

    python benchmarks/bench_branches.py [--model resnet_small] [--init random]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

import pandas as pd
import torch

from course_lib import branches, costs
from course_lib.checkpoints import reference_config, reference_model
from course_lib.data import load_data
from course_lib.train import accuracy


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vgg_small", help="vgg_small or resnet_small")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--reference-profile", default="default", help="references.yaml profile")
    parser.add_argument("--reference-epochs", type=int, default=None, help="(default: profile's)")
    parser.add_argument(
        "--remove-fraction", type=float, default=0.65, help="share of the parameters to remove"
    )
    parser.add_argument("--init", default="channels", help="branch start: channels or random")
    parser.add_argument("--alpha-step", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--resume-lrs", type=float, nargs="*", default=[0.003])
    parser.add_argument("--tolerance", type=float, default=0.005, help="resume while val is lower")
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--patience", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--subset", type=int, default=30000, help="training images for the branches (0: all)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads for training")
    parser.add_argument("--latency-batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f} at start (shared machine: timings are noisy)"
    )
    config = reference_config(
        args.model, args.dataset, args.reference_profile, epochs=args.reference_epochs
    )
    data = load_data(args.dataset, val_size=config.val_size, subset=config.subset, seed=args.seed)
    net, record = reference_model(config, data, progress=False)
    branch_data = data
    if args.subset:
        branch_data = load_data(args.dataset, val_size=config.val_size, subset=args.subset)
    reference = {split: accuracy(net, data, split) for split in ("val", "test")}
    print(f"reference: {record['path']} ({'cached' if record['cached'] else 'trained now'})")
    print(f"reference accuracy: val {reference['val']:.4f}, test {reference['test']:.4f}")

    branched = branches.attach_branches(
        net, remove_fraction=args.remove_fraction, init=args.init, seed=args.seed
    )
    print(branches.describe_branches(branched).to_string(index=False))
    schedule = branches.alpha_schedule(args.alpha_step)
    train_start = time.time()
    run = branches.train_alpha_schedule(
        branched,
        branch_data,
        schedule,
        pretrained="trainable",
        lr=args.lr,
        resume_lrs=args.resume_lrs,
        target_accuracy=reference["val"] - args.tolerance,
        max_epochs=args.max_epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=True,  # one line per α stage on stderr
    )
    train_seconds = time.time() - train_start
    print(
        f"\naccuracy per α stage ({len(branch_data.train)} training images, {train_seconds:.0f} s):"
    )
    with pd.option_context("display.width", 160):
        print(run.segments.round(4).to_string(index=False))
    if run.divergence:
        print("diverged:", run.divergence)

    folded = branches.fold(run.model)
    check = branches.check_fold(run.model, folded, data, "test")
    table = branches.costs_by_device(
        net, folded, data.input_shape, batch_size=args.latency_batch, repeats=args.repeats
    )
    single = branches.costs_by_device(
        net, folded, data.input_shape, batch_size=1, repeats=args.repeats * 5, threads=1
    )
    original_params, folded_params = costs.count_params(net), costs.count_params(folded)
    removed = 1 - folded_params / original_params
    drop = reference["test"] - check["folded_accuracy"]
    print(f"\nfold check: {check}")
    print(f"\ncosts, batch {args.latency_batch}, {torch.get_num_threads()} threads:")
    print(table.round(5).to_string(index=False))
    print("\ncosts, batch 1, 1 thread:")
    print(single.round(5).to_string(index=False))
    passed = removed >= 0.60 and drop <= 0.02 and run.final_alpha == 0.0
    print(
        f"\nRESULT {args.model} on {args.dataset}: parameters {original_params:,} -> "
        f"{folded_params:,} ({removed:.1%} removed); test accuracy {reference['test']:.4f} -> "
        f"{check['folded_accuracy']:.4f} ({-100 * drop:+.2f} points); "
        f"{'meets' if passed else 'MISSES'} the bar (>= 60 % removed, <= 2 points lost); "
        f"{time.time() - started:.0f} s in all"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "args": vars(args),
                    "reference": reference,
                    "segments": run.segments.to_dict("records"),
                    "fold_check": check,
                    "costs": table.to_dict("records"),
                    "costs_single": single.to_dict("records"),
                    "removed": removed,
                    "passed": passed,
                },
                f,
                indent=2,
            )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
