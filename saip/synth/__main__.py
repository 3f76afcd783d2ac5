"""`python -m saip.synth ...`: the synth command without the saip CLI."""

import argparse
import logging
import sys

from saip.synth.cli import add_arguments, run

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m saip.synth", description="Write synthetic labelled person datasets."
    )
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
