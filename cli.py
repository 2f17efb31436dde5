#!/usr/bin/env python3
"""Run the provision CLI from a checkout, without installing: `python cli.py --help`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from provision.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
