"""Figure: total harm against beta_A/beta_H (`python experiments/harm_vs_power.py --help`)."""

import sys

from sumjax.experiments.harm_vs_power import main

if __name__ == "__main__":
    sys.exit(main())
