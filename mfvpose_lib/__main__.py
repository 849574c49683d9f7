import sys

from mfvpose_lib.cli import main

sys.exit(main())
