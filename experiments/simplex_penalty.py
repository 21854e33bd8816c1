"""Figure: guarded learning with three utilities (`python experiments/simplex_penalty.py --help`)."""

import sys

from sumjax.experiments.simplex_penalty import main

if __name__ == "__main__":
    sys.exit(main())
