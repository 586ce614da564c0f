"""Settings: one table of every setting, read from flags, the environment and the config file.

May import: ``sending`` (key and URL checks), ``model``.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
