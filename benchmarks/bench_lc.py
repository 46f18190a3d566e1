"""LC benchmark (issue 3): LeNet-300-100 (ReLU) on the real Fashion-MNIST.

μ = 9e-5·1.1^s for 20 and 40 steps, 3 epochs per L step (6 at step 0), batch 256,
lr 0.1·0.98^s (0.09 for quantization). Two compressions: prune to 5 % of the weights jointly over
the layers, and quantize each layer with k = 2. For each it prints the reference test error, direct
compression's, LC's, the compression ratio and the wall time, beside the targets:
LC far below direct compression; at 20 steps, pruning at most 3 points and k = 2 at most 4 points
above the reference; each 20-step run under 45 s on a 2-core CPU.

    python benchmarks/bench_lc.py [--steps 20 40] [--mu0 9e-5 9e-3] [--threads N]

"cpu s" is the process's CPU time (all threads), steadier than wall time on a busy machine.
"recovered" is the share of direct compression's excess error that LC removes,
(DC − LC) / (DC − reference). On Fashion-MNIST μ0 = 9e-5 (the LC demo's MNIST value) is too
weak: the L steps ignore the penalty and the multipliers pile up the mismatch, so LC can end worse
than direct compression; μ0 = 9e-3 (notebook 02's default) runs beside it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

from course_lib import lc
from course_lib.checkpoints import reference_config, reference_model
from course_lib.data import load_data
from course_lib.train import accuracy

METHODS = {
    "prune 5 % jointly": (lambda: {lc.joint("all"): lc.Prune(keep_fraction=0.05)}, 0.1, 3.0),
    "quantize k = 2 per layer": (lambda: {"all": lc.Quantize(k=2)}, 0.09, 4.0),
}
SECONDS_TARGET = 45.0


def run_one(reference, data, ref_error, spec, lr, mu0, steps, allowed_points):
    """One LC run with the issue's settings; its table row and whether it met the targets."""
    settings = lc.LCConfig(
        mu0=mu0, mu_growth=1.1, steps=steps, epochs=3, first_epochs=6, batch_size=256, lr=lr
    )  # lr_decay 0.98 is the default
    tasks = lc.task_map(reference, spec)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = lc.run_lc(reference, tasks, data, settings, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    dc, final = result.direct["test_error"], result.final["test_error"]
    gap = 100 * (final - ref_error)
    recovered = 100 * (dc - final) / (dc - ref_error)
    checks = [final < dc and not result.diverged]
    if steps == 20:
        checks += [gap <= allowed_points, wall < SECONDS_TARGET]
    verdict = "ok" if all(checks) else "MISSED"
    row = (
        f"{mu0:7.0e} {steps:5d} {100 * ref_error:6.2f} {100 * dc:6.2f} {100 * final:6.2f} "
        f"{gap:+7.2f} {recovered:6.0f}% {result.ratio:6.1f} {wall:7.1f} {cpu:6.1f}  {verdict}"
    )
    return row + (f" ({result.divergence})" if result.diverged else ""), all(checks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--mu0", type=float, nargs="+", default=[9e-5, 9e-3], help="μ0 of μ0·1.1^s")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__} on {torch.get_num_threads()} threads, "
        f"load average before {os.getloadavg()[0]:.2f}"
    )
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    data = load_data("fashion-mnist")
    config = reference_config("lenet300", "fashion-mnist", profile="default")
    start = time.perf_counter()
    reference, record = reference_model(config, data, progress=False)
    source = "cache" if record["cached"] else f"trained in {time.perf_counter() - start:.0f} s"
    ref_error = 1 - accuracy(reference, data, "test")
    print(f"reference LeNet-300-100 ({source}): test error {100 * ref_error:.2f} %\n")

    header = (
        f"{'method':26s} {'mu0':>7s} {'steps':>5s} {'ref %':>6s} {'DC %':>6s} {'LC %':>6s} "
        f"{'LC-ref':>7s} {'recov.':>7s} {'ratio':>6s} {'wall s':>7s} {'cpu s':>6s}  verdict"
    )
    print(header)
    print("-" * len(header))
    failures = 0
    for mu0 in args.mu0:
        for steps in args.steps:
            for name, (spec, lr, allowed_points) in METHODS.items():
                row, ok = run_one(
                    reference, data, ref_error, spec(), lr, mu0, steps, allowed_points
                )
                failures += not ok
                print(f"{name:26s} {row}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (other jobs share this machine)")
    print("targets: LC < DC; 20 steps: prune <= +3 points, k=2 <= +4 points, wall < 45 s")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
