"""`python -m datacrew_assets.cli`, the same as the `datacrew` script."""

import sys

from . import main

sys.exit(main())
