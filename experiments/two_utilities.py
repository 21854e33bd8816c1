"""Figure: guarded learning with two utilities (`python experiments/two_utilities.py --help`)."""

import sys

from sumjax.experiments.two_utilities import main

if __name__ == "__main__":
    sys.exit(main())
