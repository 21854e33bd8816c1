"""Figure: gradient sensitivity of total harm (`python experiments/sensitivity.py --help`)."""

import sys

from sumjax.experiments.sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
