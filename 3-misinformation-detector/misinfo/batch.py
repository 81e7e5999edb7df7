"""Score a CSV of texts from the command line; reading, scoring and writing are
:mod:`misinfo.tabular`'s, the same code the app runs on an upload::

    python -m misinfo.batch in.csv out.csv [--text-column statement] [--models DIR] [--quantize-int8]

The output is every input row and column as read (formula-looking cells prefixed with ``'``),
then the predictions under a prefix no input column uses (``misinfo_label``, ...). A data
mistake (missing file, binary file, malformed line, unknown column) or an unusable models
folder ends with one line on stderr and exit code 2, before any model is loaded where it can.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from misinfo import tabular

DEFAULT_MAX_MB = 200.0


def score_to_csv(
    table: tabular.Table,
    text_column: str,
    detector: Any,
    out: str | os.PathLike[str] | IO[bytes],
    chunksize: int = tabular.CHUNK_ROWS,
    progress: bool = False,
) -> tabular.ScoreReport:
    """Score ``table`` into ``out`` (a path, written whole or not at all, or a binary handle)."""
    from tqdm.auto import tqdm

    report = tabular.start_report(table, text_column, tabular.text_limit(detector))
    with tqdm(total=table.n_rows, desc="scoring", unit="rows", disable=not progress) as bar:
        chunks = tabular.score_chunks(
            table, report, detector, chunksize, lambda done, _total: bar.update(done - bar.n)
        )
        if not isinstance(out, str | os.PathLike):
            tabular.write_csv(out, table.header, chunks)
            return report
        target = Path(out)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        )
        try:
            with handle:
                tabular.write_csv(handle, table.header, chunks)
            os.replace(handle.name, target)
        finally:
            Path(handle.name).unlink(missing_ok=True)
    return report


def predict_csv(
    source: str | os.PathLike[str] | bytes,
    out: str | os.PathLike[str] | IO[bytes],
    detector: Any,
    text_column: str | None = None,
    chunksize: int = tabular.CHUNK_ROWS,
    progress: bool = True,
    max_bytes: int | None = int(DEFAULT_MAX_MB * 1_000_000),
) -> tabular.ScoreReport:
    """Read, check and score a CSV into ``out``; raises :class:`tabular.TabularError`."""
    table = tabular.read_table(source, max_bytes)
    column = tabular.choose_text_column(table, text_column)
    return score_to_csv(table, column, detector, out, chunksize, progress)


def main(argv: list[str] | None = None) -> int:
    """Command line: the file is checked first, then the models loaded, then every row scored."""
    parser = argparse.ArgumentParser(
        prog="python -m misinfo.batch", description="Score a CSV of texts."
    )
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument(
        "--text-column", default=None, help="column with the text (guessed when omitted)"
    )
    parser.add_argument(
        "--models", default=os.environ.get("MISINFO_MODELS_DIR", "models"), help="artifacts folder"
    )
    parser.add_argument("--members", default=None, help="comma-separated subset of members")
    parser.add_argument("--chunksize", type=int, default=tabular.CHUNK_ROWS)
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB, help="size limit in MB")
    parser.add_argument(
        "--quantize-int8", action="store_true", help="dynamic int8 for transformer members (CPU)"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    from misinfo.artifacts import ArtifactError

    try:
        if Path(args.output).resolve() == Path(args.input).resolve():
            raise tabular.TabularError("the output would overwrite the input: name another file.")
        if not Path(args.output).resolve().parent.is_dir():
            raise tabular.TabularError(f"the output folder of {args.output} does not exist.")
        table = tabular.read_table(args.input, int(args.max_mb * 1_000_000))
        column = tabular.choose_text_column(table, args.text_column)
        from misinfo.detector import load_detector

        detector = load_detector(
            args.models,
            members=args.members.split(",") if args.members else None,
            quantize_int8=args.quantize_int8,
        )
        report = score_to_csv(
            table, column, detector, args.output, args.chunksize, not args.no_progress
        )
    except (tabular.TabularError, ArtifactError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"{table.describe()}; wrote {args.output}: {report.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
