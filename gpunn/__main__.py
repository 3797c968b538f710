"""``python -m gpunn`` runs the command line."""

import sys

from gpunn.cli import main

sys.exit(main())
