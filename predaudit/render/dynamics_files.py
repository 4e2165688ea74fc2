"""The data files ``dynamics --out`` writes per split: ``dynamics.csv``, when pyarrow is
installed ``dynamics.parquet`` with the same columns, and ``wrong_to_wrong.csv`` (analyze's
wrong → wrong samples with their region).

pyarrow is optional (the ``tables`` extra) and imported only here, when the
bundle is written; without it the Parquet file is left out.
"""

from __future__ import annotations

import io
from typing import Any

from predaudit.render.dynamics import per_sample_csv
from predaudit.render.wrong_to_wrong import wrong_to_wrong_csv
from predaudit.report.dynamics import CSV_COLUMNS, PER_SAMPLE_CSV, SplitDynamics
from predaudit.report.wrong_to_wrong import WRONG_TO_WRONG_CSV

PER_SAMPLE_PARQUET = "dynamics.parquet"


def per_sample_parquet(split: SplitDynamics) -> bytes | None:
    """``dynamics.parquet``: the columns of ``dynamics.csv``, nulls for missing values
    (``first_learned`` of a never-learned sample, ``aum``/``el2n`` when unavailable);
    None when pyarrow is not installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    s = split.samples
    rows = [s.row(i) for i in range(len(s))]
    types: dict[str, Any] = {
        "label": pa.int64(),
        "confidence": pa.float64(),
        "variability": pa.float64(),
        "correctness": pa.float64(),
        "correct_epochs": pa.int64(),
        "forgetting_events": pa.int64(),
        "first_learned": pa.int64(),
        "aum": pa.float64(),
        "el2n": pa.float64(),
        "region": pa.string(),
    }
    ids = [r["id"] for r in rows]
    kinds = {type(v) for v in ids}
    id_type = pa.int64() if kinds <= {int} else pa.float64() if kinds <= {int, float} else None
    columns = {
        "id": pa.array(
            [str(v) for v in ids] if id_type is None else ids, type=id_type or pa.string()
        ),
        **{c: pa.array([r[c] for r in rows], type=types[c]) for c in CSV_COLUMNS if c != "id"},
    }
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def bundle_files(split: SplitDynamics) -> list[tuple[str, str, str | bytes]]:
    """The data files ``--out`` writes for one split: ``(role, file name, content)``."""
    files: list[tuple[str, str, str | bytes]] = [
        ("per_sample", PER_SAMPLE_CSV, per_sample_csv(split))
    ]
    parquet = per_sample_parquet(split)
    if parquet is not None:
        files.append(("per_sample_parquet", PER_SAMPLE_PARQUET, parquet))
    if split.wrong_to_wrong is not None:
        text = wrong_to_wrong_csv(split.wrong_to_wrong)
        files.append(("wrong_to_wrong", WRONG_TO_WRONG_CSV, text))
    return files
