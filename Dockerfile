# Image for the Kubeflow Pipelines / Vertex AI runs of the pipeline (pipeline/kubeflow.py).
#
#   docker build -t REGISTRY/video-pipeline:TAG .
#
# Every component container runs TFX's executor entry point
# (python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor),
# which imports this project's code by module path:
# components.video_example_gen.executor.Executor, trainer.preprocessing.preprocessing_fn
# and trainer.run_fn.run_fn. Hence the project in /pipeline and on PYTHONPATH.
FROM gcr.io/tfx-oss-public/tfx:1.21.0

WORKDIR /pipeline

# Dependencies first, so that code changes do not reinstall them. TFX's image
# already holds the TFX 1.21 stack; this adds the rest (OpenCV, KFP, ...).
# overrides.txt is only for hosts with glibc < 2.39; if pip cannot install
# ml-metadata 1.21 here, install with uv instead:
#   python -m pip install uv && uv pip install --system -r requirements.txt --override overrides.txt
COPY requirements.txt overrides.txt ./
RUN python -m pip install --no-cache-dir -r requirements.txt

COPY . ./

ENV PYTHONPATH=/pipeline
# TFX's image keeps its own ENTRYPOINT (Beam's worker boot); the compiled
# pipeline sets each container's command itself. The same image is the Beam SDK
# worker image on Dataflow (--sdk_container_image), Flink and Spark
# (--environment_type=DOCKER --environment_config=IMAGE): the boot starts
# sdk_worker_main, which imports --beam_plugin=pipeline.beam_plugin (set by
# create_pipeline) before any bundle. tests/pipeline/test_kubeflow.py checks
# that this file and the compiled spec agree.
