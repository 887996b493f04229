"""``strokeseq export``: a written dataset as one Parquet file (Hugging Face ``datasets``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a dataset folder to Parquet (Hugging Face datasets reads it)",
        description=(
            "Write the samples of DATASET (a folder made by 'strokeseq dataset') into OUT, one "
            "Parquet file with a PNG image and the labels per row, readable with "
            "datasets.load_dataset('parquet', data_files=OUT). Needs pyarrow "
            '(pip install "strokeseq[parquet]"). Example: strokeseq export out/ out.parquet'
        ),
    )
    p.add_argument("dataset", metavar="DATASET", help="dataset folder")
    p.add_argument("out", metavar="OUT", help="Parquet file to write")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--no-verify", action="store_true", help="skip the shard hash checks")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.export import export_parquet

    try:
        path = export_parquet(
            args.dataset, args.out, verify=not args.no_verify, overwrite=args.overwrite
        )
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(path).metadata.num_rows
    print(f"wrote {rows} samples to {path}", file=sys.stdout)
    return 0
