"""``python -m fastapi_nova``: see :mod:`fastapi_nova.cli`."""

import sys

from fastapi_nova.cli import main

sys.exit(main())
