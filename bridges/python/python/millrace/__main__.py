"""``python -m millrace --entry module:function`` or ``--script file.py [args...]``: the runner bootstrap."""

import sys

from ._bootstrap import main

sys.exit(main(sys.argv[1:]))
