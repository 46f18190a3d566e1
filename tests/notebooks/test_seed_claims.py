"""Every number a notebook's text gives in a sentence that names a seed report is in that report
(issue 16: a sentence "seed 004 found X" must be true of seed 004's text). Numbers the kit derived
itself sit in such sentences too; they are listed below with where they come from."""

import json
import re

import pytest
from factories import ROOT, SEED_REPORTS

SEED = re.compile(r"\b[Ss]eeds? (\d{3})\b")
NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)?(?:e-?\d+)?(?![\w])")
# not claims: code, the kit's own question and figure numbers, names with digits in them
NOT_CLAIMS = re.compile(
    r"`[^`]*`|(?:Question|Exercise|Part|section)s? [\d.]+|Figs?\.? ?\d+(?:(?: and|,|–) ?\d+)*"
    r"|^\s*\d+\. |§\d+(?:\.\d+)*|CIFAR-10|LeNet-5|LeNet-300|VGG-16|[Ss]eeds? \d{3}|\d+×\d+ image"
)
SENTENCE = re.compile(r"(?<=[.;])\s+(?=[A-Z*(])|\n\s*\n|\n(?=\s*(?:[-*]|\d+\.) )")

# (notebook, number): where the number comes from, for numbers in a seed's sentence that the
# report does not print.
DERIVED = {
    ("01_training", "2"): "the grid's factors of two values (its size 2 × 3 × ... = 1,728)",
    ("01_training", "1,728"): "the product of seed 001's value counts",
    ("01_training", "3,456"): "1,728 with the initialisation's two values",
    ("01_training", "15"): "the one-at-a-time design's run count for seed 001's grid",
    ("02_lc_compression", "500"): "conv1's weights in the kit's (Caffe) LeNet-5",
    ("02_lc_compression", "25,000"): "conv2's weights in the kit's (Caffe) LeNet-5",
    ("05_alpha_branch", "65"): "ModelPruning's VGG-16 (named as the author's repository's)",
}


def report_numbers(text: str) -> set[float]:
    """The values of every number in a report; "2.5(10^−9)" reads as 2.5e-9, "91,5" as 91.5."""
    text = re.sub(r"(\d+(?:\.\d+)?)\s*\(10\^([−-]?\d+)\)",
                  lambda m: f"{m[1]}e{m[2].replace('−', '-')}", text)  # fmt: skip
    return {value(n) for n in NUMBER.findall(text)} | {value(n) for n in re.findall(r"\d+", text)}


def value(number: str) -> float:
    digits = number.replace(",", "." if re.fullmatch(r"\d+,\d{1,2}", number) else "")
    return float(digits)


def seed_claims() -> list[tuple[str, str, str, str]]:
    """(notebook, seed, number, sentence) for every number in a sentence naming one seed, from
    the markdown cells and the code cells' comments."""
    claims = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "code":
                text = "\n\n".join(
                    line.split("#", 1)[1] for line in text.splitlines() if "#" in line
                )
            for sentence in SENTENCE.split(text):
                seeds = set(SEED.findall(sentence))
                if len(seeds) == 1:
                    (seed,) = seeds
                    numbers = NUMBER.findall(NOT_CLAIMS.sub(" ", sentence))
                    claims += [(path.stem, seed, number, sentence) for number in numbers]
    return claims


CLAIMS = seed_claims()


def test_the_notebooks_attribute_numbers_to_seeds():
    assert len(CLAIMS) > 40
    assert {seed for _, seed, _, _ in CLAIMS} == {"000", "001", "002", "003", "004"}


def test_every_derived_number_is_still_in_a_seed_sentence():
    found = {(notebook, number) for notebook, _, number, _ in CLAIMS}
    assert set(DERIVED) <= found, f"stale entries: {set(DERIVED) - found}"


@pytest.mark.skipif(
    not SEED_REPORTS.is_dir(), reason=f"the seed reports are not at {SEED_REPORTS} ($COURSE_SEEDS)"
)
def test_every_number_a_notebook_gives_a_seed_is_in_that_seed_report():
    reports = {p.name[:3]: report_numbers(p.read_text()) for p in SEED_REPORTS.glob("*.txt")}
    wrong = [
        f"{notebook}: seed {seed} does not print {number}: {' '.join(sentence.split())}"
        for notebook, seed, number, sentence in CLAIMS
        if (notebook, number) not in DERIVED and value(number) not in reports[seed]
    ]
    assert not wrong, "\n".join(wrong)
