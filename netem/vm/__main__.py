import sys

from netem.vm.cli import main

sys.exit(main())
