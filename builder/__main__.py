"""``python -m builder`` is ``build-image``."""

import sys

from builder.cli import main

sys.exit(main())
