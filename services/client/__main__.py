"""`python -m services.client` — see `cli.main`."""

import sys

from services.client.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
