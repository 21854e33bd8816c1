"""Figure: see sumjax.experiments.scenarios (`python experiments/scenarios.py --help`)."""

import sys

from sumjax.experiments.scenarios import main

if __name__ == "__main__":
    sys.exit(main())
