"""Applying a pushed model to new, unlabelled videos: the model directory, the video listing, the Beam transform.

Below pipeline/ and beside trainer/: it imports the frame path and the
trainer's model files, never the pipeline.
"""
