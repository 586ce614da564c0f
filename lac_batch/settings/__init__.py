"""Settings: one table of every setting, read from flags, the environment and the config file.

May import: ``sending`` (key and URL checks), ``model``.
"""
