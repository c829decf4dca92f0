"""earshot benchmarks. Each prints its figures, ratios and the machine it ran on.

    python -m scripts.benchmarks listen [--json]
    python -m scripts.benchmarks bot [--json]
    python -m scripts.benchmarks rerank [--clips N] [--json]
    python -m scripts.benchmarks scale [--clips N] [--skew] [--keep DIR] [--json]
    python -m scripts.benchmarks lookups DIR [--json]      # again, on a build kept by scale
    python -m scripts.benchmarks titles [--videos N] [--json]
    python -m scripts.benchmarks cluster [--songs N] [--json]
    python -m scripts.benchmarks sources [--songs N] [--json]
    python -m scripts.benchmarks adding [--songs N] [--seconds S] [--json]
    python -m scripts.benchmarks targets [--only RUN,...] [--reuse] [--json]

from the repository's root; ``python scripts/benchmark.py NAME ...`` runs the same.
One module per benchmark here, and harness.py for what they share.

``listen``: CPU seconds per audio second of ffmpeg decoding + VGGish inference against
inference alone, and peak memory, for 30 s and 5 min songs. Runs with a SavedModel of
VGGish's real architecture (random weights) unless VGGISH_MODEL names a real one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from types import ModuleType

from scripts.benchmarks import (
    adding,
    bot,
    cluster,
    listen,
    lookups,
    rerank,
    scale,
    sources,
    targets,
    titles,
)
from scripts.benchmarks.harness import emit

# Each module: HELP, add_arguments(parser), run(args) -> the report; as_text(report) too
# when the report has a text form (printed unless --json), and exit_code(report) when the
# report can fail (targets).
REGISTRY: dict[str, ModuleType] = {
    "listen": listen,
    "bot": bot,
    "rerank": rerank,
    "scale": scale,
    "lookups": lookups,
    "titles": titles,
    "cluster": cluster,
    "sources": sources,
    "adding": adding,
    "targets": targets,
}


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The CLI: one subcommand per registered benchmark, and listen's hidden child."""
    top = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True)
    for name, module in REGISTRY.items():
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    listen.add_child_arguments(sub.add_parser(listen.CHILD))
    return top


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = parser(prog).parse_args(argv)
    if args.command == listen.CHILD:
        # One line: the parent reads the last line of this process's output.
        print(json.dumps(listen.run_child(args)))
        return 0
    module = REGISTRY[args.command]
    report = module.run(args)
    emit(report, args.json, getattr(module, "as_text", None))
    # targets: non-zero when a target is not met, so a script can stop on it
    return module.exit_code(report) if hasattr(module, "exit_code") else 0
