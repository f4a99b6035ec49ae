"""`python -m fastapi_nova`: see `fastapi_nova.cli`."""

import sys

from fastapi_nova.cli import main

if __name__ == "__main__":  # importing this module (docs tools, test discovery) runs nothing
    sys.exit(main())
