"""Tucker-2 benchmark (issue 5): forward-time speed-up against accuracy lost, per k.

Takes the kit's cached reference network (course_lib/profiles/references.yaml) for the model and
data that notebook 04 uses by default, decomposes every 3x3 conv but the first at ranks k/8 of
its channels (HOOI) for each k, fine-tunes the chosen k with the reference's SGD settings, and
prints per k beside the original (the baseline, measured in the same run and interleaved with
it): the FLOP ratio, the measured forward-time ratio in the NCHW and the NHWC (channels_last)
layouts, and the test accuracy change before and after fine-tuning. Since fine-tuning is also
extra training, the original is fine-tuned the same way as a second baseline, and the points lost
are given against it too.
Target: at least 2x measured forward speed-up for at most 1 point of test accuracy lost.

    nice -n 10 python benchmarks/bench_tucker.py [--reference-epochs 4] [--finetune-subset N]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import pandas as pd
from common import header

from course_lib import costs, paths, tucker
from course_lib.checkpoints import reference_config, reference_model
from course_lib.data import load_data
from course_lib.train import accuracy, finetune_config, fit

SPEEDUP_TARGET, POINTS_TARGET = 2.0, 1.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vgg_small")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--reference-profile", default="default", help="references.yaml profile")
    parser.add_argument("--reference-epochs", type=int, default=None, help="None: the profile's")
    parser.add_argument("--ks", type=int, nargs="+", default=list(range(1, 9)))
    parser.add_argument("--method", default="hooi", choices=sorted(tucker.METHODS))
    parser.add_argument("--finetune-ks", type=int, nargs="*", default=[1, 2, 3, 4])
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--finetune-lr", type=float, default=0.01)
    parser.add_argument("--finetune-subset", type=int, default=None, help="training images")
    parser.add_argument("--batch", type=int, default=256, help="images per timed forward pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds, best kept")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    return parser.parse_args(argv)


def speed_table(study, net, input_shape, timing: dict, tuned_reference: float) -> pd.DataFrame:
    """The study's table with the NHWC timing beside the NCHW one, the points lost against the
    reference and the fine-tuned original, and the ranks per layer."""
    models = {"original": net, **{f"k={k}": model for k, model in study.models.items()}}
    nhwc = costs.compare(
        models, input_shape, **{**tucker.TIMING, **timing, "channels_last": True}
    ).loc[study.table.model]
    table = study.table.rename(columns={"speedup": "speedup_nchw"})
    table["speedup_nhwc"] = nhwc.speedup.to_numpy()
    table["ms_per_image_nchw"] = 1e3 * table.seconds_per_image
    table["ms_per_image_nhwc"] = nhwc.ms_per_image.to_numpy()
    table["points_lost"] = -100 * table.accuracy_change
    table["points_lost_tuned"] = -100 * table.accuracy_tuned_change
    table["vs_tuned_original"] = 100 * (tuned_reference - table.accuracy_tuned)
    ranks = study.layers.groupby("k").apply(
        lambda rows: " ".join(f"{r.R1}/{r.R2}" for r in rows.itertuples()), include_groups=False
    )
    table["R1/R2 per layer"] = table.k.map(ranks)
    return table


def verdicts_of(table: pd.DataFrame) -> dict:
    """Per layout and baseline, the smallest-cost k that meets the target (None: none does)."""
    verdicts = {}
    for baseline, lost in {
        "the reference": table.points_lost_tuned.fillna(table.points_lost),
        "the fine-tuned original": table.vs_tuned_original,  # fine-tuned k only
    }.items():
        for layout in ("nchw", "nhwc"):
            fast = table[f"speedup_{layout}"] >= SPEEDUP_TARGET
            meets = table[fast & (lost <= POINTS_TARGET)]
            verdicts[f"{layout} vs {baseline}"] = None if meets.empty else meets.iloc[0].model
    return verdicts


def show(args, study, table: pd.DataFrame, tune_images: int, tuned_reference: float) -> None:
    """Print the settings and the table per k."""
    columns = ["model", "flop_ratio", "speedup_nchw", "speedup_nhwc", "ms_per_image_nchw"]
    columns += ["ms_per_image_nhwc", "accuracy", "points_lost", "points_lost_tuned"]
    columns += ["vs_tuned_original"]
    print(
        f"\nlayers {', '.join(study.layers.layer.unique())}; timing: batch {args.batch}, "
        f"{args.threads} thread(s), best of {args.rounds} interleaved rounds of the median of "
        f"{args.repeats}; fine-tuning: {args.finetune_epochs} epoch(s) at lr "
        f"{args.finetune_lr} on {tune_images} images for k in {args.finetune_ks}; "
        f"the original fine-tuned the same way: test accuracy {tuned_reference:.4f}"
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[columns].round(3).to_string(index=False))
        print(table[["model", "R1/R2 per layer"]].iloc[1:].to_string(index=False))


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    header("Tucker-2: forward speed-up against accuracy (issue 5)")
    print(f"load average {os.getloadavg()[0]:.1f} at start (shared machine: timings are noisy)")
    config = reference_config(
        args.model, args.dataset, args.reference_profile, epochs=args.reference_epochs
    )
    data = load_data(args.dataset, val_size=config.val_size, seed=args.seed)
    net, record = reference_model(config, data, progress=False)
    print(f"reference: {record['path']} ({'cached' if record['cached'] else 'trained now'})")
    print(f"reference training: {config.summary()}")
    tune_data = load_data(
        args.dataset, val_size=config.val_size, subset=args.finetune_subset, seed=args.seed
    )
    finetune = finetune_config(config, args.finetune_epochs, args.finetune_lr)
    timing = dict(
        rounds=args.rounds, batch_size=args.batch, repeats=args.repeats, threads=args.threads
    )
    study = tucker.rank_study(
        net,
        data,
        args.ks,
        method=args.method,
        finetune=finetune,
        finetune_data=tune_data,
        finetune_ks=args.finetune_ks or None,
        timing=timing,
        progress=True,
    )
    tuned_original = copy.deepcopy(net)
    fit(tuned_original, tune_data, finetune, progress=True)
    tuned_reference = accuracy(tuned_original.cpu().eval(), data, "test")
    table = speed_table(study, net, data.input_shape, timing, tuned_reference)
    show(args, study, table, len(tune_data.train), tuned_reference)
    verdicts = verdicts_of(table)
    passed = any(verdicts[f"{layout} vs the reference"] for layout in ("nchw", "nhwc"))
    print(
        f"\nRESULT {args.model} on {args.dataset}: reference test accuracy "
        f"{table.accuracy.iloc[0]:.4f}; smallest-cost k with >= {SPEEDUP_TARGET}x measured "
        f"speed-up and <= {POINTS_TARGET} point lost (after fine-tuning where done): {verdicts}; "
        f"{'meets' if passed else 'MISSES'} the target; load average {os.getloadavg()[0]:.1f} "
        f"at the end; {time.time() - started:.0f} s in all"
    )
    if args.json:
        records = table.drop(columns=["R1/R2 per layer"]).astype(object)
        paths.write_json(
            args.json,
            {
                "args": vars(args),
                "reference": record["path"],
                "table": records.where(records.notna(), None).to_dict("records"),
                "layers": study.layers.to_dict("records"),
                "tuned_reference": tuned_reference,
                "verdicts": verdicts,
                "passed": passed,
            },
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
