"""Figure: harm against AI scale (`python experiments/scaling.py --help`)."""

import sys

from sumjax.experiments.scaling import main

if __name__ == "__main__":
    sys.exit(main())
