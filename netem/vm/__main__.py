import sys

from netem.vm.host.cli import main

sys.exit(main())
