"""respmon: contactless respiratory monitoring at the bedside from a RealSense depth camera."""

__version__ = "0.1.0"
