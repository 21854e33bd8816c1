"""Figure: total harm before alignment against d (`python experiments/harm_vs_dim.py --help`)."""

import sys

from sumjax.experiments.harm_vs_dim import main

if __name__ == "__main__":
    sys.exit(main())
