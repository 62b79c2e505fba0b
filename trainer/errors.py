"""Errors of training whose message is the whole story (front ends print them as one line); no Keras here."""


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: training cannot go on; the message says what to change."""
