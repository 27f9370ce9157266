import sys

from netem.commands.cli import main

sys.exit(main())
