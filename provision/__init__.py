"""kominfo-provision: the technical steps of the SOP "Pengembangan Aplikasi oleh OPD"."""

import os

__version__ = "0.1.0"

# pydantic scans every installed distribution's entry points for plugins the first time
# a model is built (about a fifth of a short command's start-up); the toolkit uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
