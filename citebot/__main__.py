"""``python -m citebot`` runs the command line."""

import sys

from citebot.cli import main

sys.exit(main())
