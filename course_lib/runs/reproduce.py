"""``course reproduce SEED``: a seed report's experiments run by the kit, seed beside kit.

For each seed (000-004, or all) its profile (``course_lib/profiles/seeds/seedNNN.yaml``) names
the notebooks and their parameters. Before any work the datasets are looked for: a seed whose
dataset is not on this machine is not run (a message names the three ways to get it), the
others are planned (every parameter checked) and then run through ``course run``'s runner into
``<output_dir>/<time>-reproduce-<seed>/seedNNN/``; a notebook that compresses the net the seed
trained itself gets this run's notebook-01 folder as its ``reference``. Then ``seed_vs_kit.csv``
and ``seed_vs_kit.md`` set every number of the report beside the kit's, in the run folder and in
each seed's folder, and ``course report``'s pages show them (``report.md`` in the run folder
links each seed's report).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from course_lib import paths
from course_lib.data import DEFAULT_DATA, SYSTEM_DATA, find_dataset
from course_lib.errors import CourseError
from course_lib.network import VARIABLE as NETWORK_TIMEOUT
from course_lib.runs.parameters import discover_notebooks, select_notebooks
from course_lib.runs.report import build_report
from course_lib.runs.runner import PlannedRun, RunResult, plan_runs, run_notebooks
from course_lib.runs.seed_table import figure_rows, number_rows, write_tables
from course_lib.runs.seeds import FROM_NOTEBOOK_01, SeedProfile, load_seed


def missing_data(seeds: list[SeedProfile], data_dir, download: bool) -> dict[str, str]:
    """seed -> its dataset, for the seeds whose dataset is not on this machine (none when the
    notebooks may download)."""
    if download:
        return {}
    return {p.seed: p.dataset for p in seeds if find_dataset(p.dataset, data_dir) is None}


def data_message(missing: dict[str, str], data_dir) -> str:
    """What is missing, then the three ways to get it; the first line says what to do."""
    datasets = sorted(set(missing.values()))
    looked = data_dir or os.environ.get("COURSE_DATA") or DEFAULT_DATA
    seeds = ", ".join(missing)
    return "\n".join(
        [
            f"{' and '.join(datasets)} not on this machine (looked in {looked} and {SYSTEM_DATA}): "
            f"seed {seeds} not run; get the data one of three ways and run again.",
            "  1. a folder that holds the upstream files: --data-dir FOLDER (or $COURSE_DATA);",
            "  2. on a machine with a network: --download (torchvision, into the data folder; "
            f"each wait at most ${NETWORK_TIMEOUT} seconds);",
            f"  3. copy the files into {DEFAULT_DATA} or {SYSTEM_DATA} (fashion-mnist on Debian: "
            "apt-get install dataset-fashion-mnist).",
        ]
    )


def plan_seed(
    profile: SeedProfile,
    quick: bool,
    data_dir,
    notebooks_dir: Path,
    settings: Mapping[str, Mapping] | None = None,
) -> list[PlannedRun]:
    """The seed's notebook runs, every parameter checked (as ``course run`` checks them);
    ``settings`` ({notebook: {parameter: value}}) replace the profile's in the notebooks it has."""
    profile_name, runs = profile.plan(quick)
    for notebook, values in (settings or {}).items():
        if notebook in runs:
            runs[notebook] = {**runs[notebook], **values}
    notebooks = select_notebooks(discover_notebooks(notebooks_dir), list(runs))
    shared = {"dataset": profile.dataset}
    if data_dir is not None:
        shared["data_dir"] = str(data_dir)
    return plan_runs(notebooks, profile_name, [], {**shared, **runs})


def with_reference(plans: list[PlannedRun], folder: Path) -> list[PlannedRun]:
    """``reference: 01_training`` replaced by the folder this seed's notebook 01 runs into."""
    tuned = str(folder / FROM_NOTEBOOK_01)
    return [
        replace(plan, parameters={**plan.parameters, "reference": tuned})
        if plan.parameters.get("reference") == FROM_NOTEBOOK_01
        else plan
        for plan in plans
    ]


def reproduce(
    seeds: list[str],
    *,
    quick: bool = False,
    data_dir: str | Path | None = None,
    output_dir: str | Path = "runs",
    notebooks_dir: Path,
    download: bool = False,
    kernel_name: str | None = None,
    settings: Mapping[str, Mapping] | None = None,
    say: Callable[[str], None] = print,
) -> tuple[Path, list[RunResult]]:
    """Run ``seeds``' experiments into a fresh folder under ``output_dir`` and write the
    seed-vs-kit tables; returns the folder and every notebook's result. Refused before any work
    when no seed's dataset is here. ``settings``: see ``plan_seed`` (a shorter grid, say)."""
    profiles = [load_seed(seed) for seed in seeds]
    missing = missing_data(profiles, data_dir, download)
    if len(missing) == len(profiles):
        raise CourseError(data_message(missing, data_dir))
    if missing:
        say(f"warning: {data_message(missing, data_dir)}")
    plans = {
        p.seed: plan_seed(p, quick, data_dir, notebooks_dir, settings)
        for p in profiles
        if p.seed not in missing
    }
    name = f"reproduce-{seeds[0] if len(seeds) == 1 else 'all'}{'-quick' if quick else ''}"
    folder = paths.fresh_folder(output_dir, name, "--output-dir")
    say(f"run folder: {folder}")
    numbers, figures, results = [], [], []
    for profile in profiles:
        seed_folder = folder / f"seed{profile.seed}"
        runs = {}
        if profile.seed in plans:
            seed_folder.mkdir()
            say(f"seed {profile.seed}: {profile.title}")
            done = run_notebooks(
                with_reference(plans[profile.seed], seed_folder),
                seed_folder,
                kernel_name=kernel_name,
                say=say,
            )
            results += done
            runs = {r.notebook: r.metrics if r.ok else None for r in done}
        no_data = set(profile.runs) if profile.seed in missing else set()
        seed_numbers = number_rows(profile, runs, no_data)
        seed_figures = figure_rows(profile, seed_folder, no_data)
        if runs:
            write_tables(seed_folder, seed_numbers, seed_figures, {profile.seed: profile.title})
        numbers += seed_numbers
        figures += seed_figures
    write_tables(folder, numbers, figures, {p.seed: p.title for p in profiles})
    build_report(folder)
    return folder, results
