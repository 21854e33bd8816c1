"""Figure: required divergence D* against d (`python experiments/required_divergence.py --help`)."""

import sys

from sumjax.experiments.required_divergence import main

if __name__ == "__main__":
    sys.exit(main())
