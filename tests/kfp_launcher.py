"""A compiled Kubeflow Pipelines v2 spec, executed step by step as the KFP launcher runs it.

Every container of the spec runs here with its own command and arguments
(TFX's container entry points: kubeflow_v2_run_executor, and the
FileBasedExampleGen driver as a pre-cache-check hook), with `{{$}}` replaced
by the task's ExecutorInput, built from the spec and the upstream tasks'
ExecutorOutput as the launcher builds it: as a subprocess of this Python with
the project on PYTHONPATH (what the image holds), or in a container of the
image that the spec names (tests/image.py), as on a cluster. Resolver tasks resolve
nothing (a first run: no blessed model in the metadata store).
"""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import PROJECT_ROOT
from tests.image import entrypoint_option, run_in_container

STEP_TIMEOUT_SECONDS = 600
# Vertex AI's artifact names; the TFX entry points hash them into MLMD ids.
ARTIFACT_NAME = "projects/local/locations/local/metadataStores/default/artifacts/{}"
_INTEGER_TYPES = {"INT", "NUMBER_INTEGER"}


def topological_order(tasks):
    """Task names, each after the tasks it depends on (dependentTasks and artifact producers)."""
    upstream = {
        name: set(task.get("dependentTasks", []))
        | {spec["taskOutputArtifact"]["producerTask"] for spec in task.get("inputs", {}).get("artifacts", {}).values()}
        for name, task in tasks.items()
    }
    order = []
    while len(order) < len(tasks):
        ready = sorted(name for name in tasks if name not in order and upstream[name] <= set(order))
        assert ready, f"cycle among {set(tasks) - set(order)}"
        order.extend(ready)
    return order


def _parameter(value, parameter_type):
    """(the deprecated `parameters` Value, the `parameter_values` struct value) of a plain value."""
    if isinstance(value, str):
        return {"stringValue": value}, value
    if parameter_type in _INTEGER_TYPES or (parameter_type is None and float(value).is_integer()):
        return {"intValue": str(int(value))}, float(value)
    return {"doubleValue": float(value)}, float(value)


class LocalLauncher:
    """Runs a compiled PipelineJob's tasks in order, each container as a subprocess, or, given
    `container_options` (the volumes that hold the spec's paths, the network), as a container of its image."""

    def __init__(self, job, run_root, environment, log_dir, container_options=None):
        self.spec = job["pipelineSpec"]
        self.run_root = run_root
        self.environment = environment
        self.log_dir = log_dir
        self.container_options = container_options
        self.outputs = {}  # task name -> output key -> [RuntimeArtifact as JSON]
        self.executed = []  # (task name, entry point module) in execution order
        self.windows = []  # (task name, started ms, finished ms) of each executor
        self.pids = set()  # of every container process
        self._artifact_count = 0

    def run(self):
        tasks = self.spec["root"]["dag"]["tasks"]
        for task_name in topological_order(tasks):
            self.run_task(task_name, tasks[task_name])
        return self.outputs

    def run_task(self, task_name, task):
        component = self.spec["components"][task["componentRef"]["name"]]
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]
        output_definitions = component.get("outputDefinitions", {}).get("artifacts", {})
        if "resolver" in executor:
            # A first run: no blessed model in the metadata store, nothing resolved.
            self.outputs[task_name] = {key: [] for key in output_definitions}
            return
        executor_input = self._executor_input(task_name, task, output_definitions)
        container = executor["container"]
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        if hook is not None:
            # The hook runs in the step's image (it has no image of its own).
            self._run_container(task_name, "driver", {**hook, "image": container["image"]}, executor_input)
            self._apply_driver_output(executor_input, component)
        self._run_container(task_name, "executor", container, executor_input)
        self.outputs[task_name] = self._task_outputs(executor_input)

    def _executor_input(self, task_name, task, output_definitions):
        inputs = {"artifacts": {}, "parameters": {}, "parameterValues": {}}
        for name, spec in task.get("inputs", {}).get("artifacts", {}).items():
            producer = spec["taskOutputArtifact"]
            inputs["artifacts"][name] = {"artifacts": self.outputs[producer["producerTask"]][producer["outputArtifactKey"]]}
        for name, spec in task.get("inputs", {}).get("parameters", {}).items():
            # Schema 2.0 writes `constantValue` {intValue|doubleValue|stringValue}, as the entry points read it.
            ((kind, value),) = spec["runtimeValue"]["constantValue"].items()
            inputs["parameters"][name] = {kind: value}
            inputs["parameterValues"][name] = value if kind == "stringValue" else float(value)
        task_root = os.path.join(self.run_root, task_name)
        outputs = {"artifacts": {}, "outputFile": os.path.join(task_root, "executor_output.json")}
        for key, definition in output_definitions.items():
            self._artifact_count += 1
            outputs["artifacts"][key] = {
                "artifacts": [
                    {
                        "name": ARTIFACT_NAME.format(self._artifact_count),
                        "type": definition["artifactType"],
                        "uri": os.path.join(task_root, key),
                        "metadata": {},
                    }
                ]
            }
        return {"inputs": inputs, "outputs": outputs}

    def _run_container(self, task_name, step, container, executor_input):
        serialized = json.dumps(executor_input)
        args = [serialized if arg == "{{$}}" else arg for arg in container["args"]]
        command = container["command"] + args
        log_path = os.path.join(self.log_dir, f"{task_name}.{step}.log")
        started_ms = int(time.time() * 1000)
        if self.container_options is not None:
            options = entrypoint_option(container["command"]) + list(self.container_options)
            returncode = run_in_container(container["image"], args, options, log_path, STEP_TIMEOUT_SECONDS)
        else:
            returncode = self._run_subprocess(command, log_path)
        if returncode != 0:
            with open(log_path) as log:
                pytest.fail(f"{task_name} {step} exited with {returncode}:\n{log.read()[-4000:]}")
        self.executed.append((task_name, container["command"][-1]))
        if step == "executor":
            self.windows.append((task_name, started_ms, int(time.time() * 1000)))

    def _run_subprocess(self, command, log_path):
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, cwd=self.log_dir, env=self.environment, stdout=log, stderr=subprocess.STDOUT)
            self.pids.add(process.pid)
            try:
                returncode = process.wait(timeout=STEP_TIMEOUT_SECONDS)
            finally:
                process.kill()
                process.wait()
        return returncode

    def _apply_driver_output(self, executor_input, component):
        """What the launcher does with a driver's ExecutorOutput: its parameters and artifacts become the executor's."""
        with open(executor_input["outputs"]["outputFile"]) as output_file:
            driver_output = json.load(output_file)
        parameter_types = component.get("inputDefinitions", {}).get("parameters", {})
        for name, value in driver_output.get("parameterValues", {}).items():
            parameter_type = parameter_types.get(name, {}).get("type")
            executor_input["inputs"]["parameters"][name], executor_input["inputs"]["parameterValues"][name] = _parameter(
                value, parameter_type
            )
        for key, artifact_list in driver_output.get("artifacts", {}).items():
            for artifact, updated in zip(executor_input["outputs"]["artifacts"][key]["artifacts"], artifact_list["artifacts"]):
                artifact["metadata"] = updated.get("metadata", {})

    def _task_outputs(self, executor_input):
        """The task's output artifacts as downstream tasks get them: the executor's metadata on the launcher's artifacts."""
        with open(executor_input["outputs"]["outputFile"]) as output_file:
            executor_output = json.load(output_file)
        outputs = {}
        for key, artifact_list in executor_input["outputs"]["artifacts"].items():
            produced = executor_output.get("artifacts", {}).get(key, {}).get("artifacts", [])
            artifacts = []
            for artifact, updated in zip(artifact_list["artifacts"], produced or [{}] * len(artifact_list["artifacts"])):
                artifacts.append(
                    {**artifact, "uri": updated.get("uri", artifact["uri"]), "metadata": updated.get("metadata", artifact["metadata"])}
                )
            outputs[key] = artifacts
        return outputs


def image_environment():
    """The image's environment (Dockerfile): its python (the pinned stack) and the project on PYTHONPATH."""
    return {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        "PYTHONPATH": PROJECT_ROOT,
    }


def run_spec(spec_path, log_dir, container_options=None):
    """Runs the compiled PipelineJob at `spec_path` task by task, each step a subprocess or, with
    `container_options`, a container of the step's image (LocalLauncher); returns the LocalLauncher (its
    outputs, executed steps, windows, pids)."""
    with open(spec_path) as spec_file:
        job = json.load(spec_file)
    run_root = os.path.join(job["runtimeConfig"]["gcsOutputDirectory"], "run-1")
    launcher = LocalLauncher(job, run_root, image_environment(), str(log_dir), container_options)
    launcher.run()
    return launcher
