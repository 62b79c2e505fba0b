"""Errors of feature extraction whose message is meant for the user as it is.

Kept in a module of their own so that a command line can recognize them
without importing TensorFlow.
"""


class BackboneWeightsError(Exception):
    """The requested backbone weights cannot be had; the message says what to do."""


class ExtractionError(Exception):
    """The extraction cannot give usable splits; the message says why."""
