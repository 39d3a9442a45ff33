"""``python -m agdl_plugins.apps.bench`` = ``agdl bench``."""

import sys

from agdl_plugins.apps.bench import main

sys.exit(main())
