"""`saip backbones`: the registered backbones, one row each (saip.models.backbone.BACKBONES)."""

from __future__ import annotations

import argparse

from saip.models.backbone import BACKBONES

COLUMNS = ("name", "kind", "params (M)", "input (H x W)", "timm model", "note")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true", help="a Markdown table (for docs)")


def rows() -> list[tuple[str, ...]]:
    return [
        (
            name,
            spec.kind,
            f"{spec.params_m:g}",
            f"{spec.input_size[0]} x {spec.input_size[1]}",
            spec.timm_name + _resized(spec.timm_kwargs),
            "test only" if spec.test_only else "",
        )
        for name, spec in BACKBONES.items()
    ]


def _resized(timm_kwargs: dict[str, object]) -> str:
    return f" ({', '.join(f'{k}={v}' for k, v in timm_kwargs.items())})" if timm_kwargs else ""


def table(markdown: bool = False) -> str:
    body = [COLUMNS, *rows()]
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join([lines[0], "|" + "---|" * len(COLUMNS), *lines[1:]])
    widths = [max(len(row[i]) for row in body) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in body
    )


def run(args: argparse.Namespace) -> int:
    print(table(markdown=args.markdown))
    return 0
