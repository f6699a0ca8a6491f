"""`datacrew` command line: every command takes --home and --json; bad input exits 2."""

from __future__ import annotations

import argparse
import logging
import sys

from datacrew_resources.config import ConfigError, ConfigErrors, Home
from datacrew_resources.environment import prepare_environment

from . import catalog, commands, delegation, instance, status

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="platform home (default: $DATACREW_HOME or ./datacrew_home)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(prog="datacrew", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("demo", parents=[common], help="build the flight-data home, discover, materialize everything")
    sub.add_parser("validate", parents=[common], help="check datacrew.yaml and every spec")
    sub.add_parser("discover", parents=[common], help="scan the sources into the catalog")
    # Values are checked by the search itself, so a bad one is a one-line error naming the option.
    search = sub.add_parser("search", parents=[common], help="rank catalog datasets for a query ('' ranks all)")
    search.add_argument("query")
    search.add_argument("--max-results", "--limit", default="10", metavar="N", help="datasets to return (default 10)")
    search.add_argument("--source-types", action="append", default=[], metavar="TYPE[,TYPE]",
                        help="only these: data_lake, data_warehouse, streaming, api_endpoints, file_systems")
    search.add_argument("--quality-threshold", default="0", metavar="SCORE",
                        help="minimum quality score, 0..1 (default 0; the tutorial uses 0.8)")
    search.add_argument("--data-domains", action="append", default=[], metavar="DOMAIN[,DOMAIN]",
                        help="only these domains (a dataset's owner team)")
    search.add_argument("--freshness-requirement", default="any", metavar="WINDOW",
                        help="last_24_hours, last_7_days, last_30_days or any (default)")
    materialize = sub.add_parser("materialize", parents=[common], help="materialize transformations via Dagster")
    materialize.add_argument("names", nargs="*", metavar="NAME_OR_KEY")
    materialize.add_argument("--all", action="store_true", help="every unpartitioned transformation")
    materialize.add_argument("--partition", metavar="KEY", help="partition to materialize (partitioned assets)")
    lineage = sub.add_parser("lineage", parents=[common],
                             help="table lineage from the asset graph; with --columns, column lineage of the specs;"
                                  " --format mermaid|dot|html draws it")
    lineage.add_argument("key", metavar="KEY", nargs="?", help="an asset; drawn formats default to every asset")
    lineage.add_argument("--all", action="store_true", help="draw the whole graph, not KEY's lineage")
    lineage.add_argument("--columns", action="store_true",
                         help="each column's source columns, traced through the compiled specs (no run needed)")
    direction = lineage.add_mutually_exclusive_group()
    direction.add_argument("--upstream", action="store_true")
    direction.add_argument("--downstream", action="store_true")
    # Checked by the command, so a bad one is a one-line error naming the option.
    lineage.add_argument("--format", default="text", metavar="FORMAT",
                         help="text (default), json, or drawn: mermaid, dot, html (with --columns and no direction,"
                              " json is the drawn graph)")
    lineage.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    catalog.add_parsers(sub, common)
    delegation.add_parsers(sub, common)
    status.add_parsers(sub, common)
    instance.add_parsers(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    home = Home.resolve(args.home)
    try:
        if args.command == "demo" or home.config_path.exists():
            prepare_environment(home)
        return commands.run(args, home)
    except ConfigErrors as e:
        for error in e.errors:
            print(f"datacrew: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ConfigError as e:
        print(f"datacrew: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
