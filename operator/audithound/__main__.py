"""``python -m audithound`` runs the command line."""

import sys

from audithound import cli

sys.exit(cli.main())
