"""The ``lac-batch`` command: the only package that imports click or prints to a terminal.

May import: anything. Nothing imports it.
"""
