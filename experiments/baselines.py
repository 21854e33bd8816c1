"""Figure: tilt vs best-of-n and the quantilizer at equal KL (`python experiments/baselines.py --help`)."""

import sys

from sumjax.experiments.baselines import main

if __name__ == "__main__":
    sys.exit(main())
