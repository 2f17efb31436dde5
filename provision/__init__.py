"""kominfo-provision: the technical steps of the SOP "Pengembangan Aplikasi oleh OPD"."""

__version__ = "0.1.0"
