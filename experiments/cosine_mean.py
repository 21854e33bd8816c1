"""Figure: E[c] against the divergence D (`python experiments/cosine_mean.py --help`)."""

import sys

from sumjax.experiments.cosine_mean import main

if __name__ == "__main__":
    sys.exit(main())
