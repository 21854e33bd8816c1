"""Figure: guarded learning's aim, the most profitable bias (`python experiments/guarded_bias.py --help`)."""

import sys

from sumjax.experiments.guarded_bias import main

if __name__ == "__main__":
    sys.exit(main())
