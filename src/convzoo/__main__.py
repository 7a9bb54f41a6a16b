"""`python -m convzoo`: the command line, the same as the `convzoo` console script."""

import sys

try:
    from .cli import main
except ImportError as error:  # click or rich missing: the CLI is an optional extra
    sys.exit(f"The convzoo command line needs the `cli` extra: pip install 'convzoo[cli]' ({error}).")

main(prog_name="convzoo")
