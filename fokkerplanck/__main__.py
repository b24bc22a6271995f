"""``python -m fokkerplanck`` is the ``fokkerplanck`` command."""
import sys

from .cli import main

sys.exit(main())
