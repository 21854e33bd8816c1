"""Figure: see sumjax.experiments.scenario_sensitivity (`python experiments/scenario_sensitivity.py --help`)."""

import sys

from sumjax.experiments.scenario_sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
