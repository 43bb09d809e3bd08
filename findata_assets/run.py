"""`python -m findata_assets.run`: the command line, kept at this path for users and scripts;
the commands live in findata_assets/cli (main.py dispatches)."""

import sys

from findata_assets.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
