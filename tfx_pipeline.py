"""The pipeline file of the `tfx` command line (local engine): the whole pipeline, configured by VIDEO_* variables.

    tfx pipeline create --engine local --pipeline_path tfx_pipeline.py
    tfx run create --engine local --pipeline_name video-action-recognition

`tfx pipeline create` runs this file inside the `tfx` process with
LocalDagRunner.run() patched to only record the pipeline; `tfx run create`
runs `python tfx_pipeline.py`, for real. The variables are pipeline/tfx_cli.py's.
A bad one is one line on stderr and exit code 2, as with pipeline_runner.py (pipeline/front_end.py).
"""

import sys

from pipeline import tfx_cli

if __name__ == "__main__":  # the tfx CLI runs it as __main__ too
    sys.exit(tfx_cli.main())
