"""``python -m agdl_plugins.bench`` = ``agdl bench``."""

import sys

from . import main

sys.exit(main())
