import sys

from vmat.cli.main import main

sys.exit(main())
