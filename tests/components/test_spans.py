"""Spans: VideoExampleGen extracts the latest span (or the one asked), records it on its Examples, and
--train-spans N hands Transform (and the Trainer, on the same channel) the latest N spans' Examples."""

import json
import os
import shutil
import types

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

import pipeline_runner
from frame_path.config import ExtractionConfig
from pipeline import configs, runner
from video_datasets import spans

SMALL = ["--weights", "none", "--max-seq-length", "8", "--image-size", "32"]


def _spans_root(demo_dataset, tmp_path):
    root = tmp_path / "videos"
    shutil.copytree(demo_dataset(4, 1), root / "span-1")  # 20 clips
    shutil.copytree(demo_dataset(5, 1), root / "span-2")  # 24 clips
    return str(root)


def _extract(data_root, output_dir, *options):
    assert pipeline_runner.main(["extract", "--data-root", data_root, "--output-dir", output_dir, *SMALL, *options]) == 0
    with open(os.path.join(output_dir, "run_summary.json")) as summary_file:
        return json.load(summary_file)


def _store(output_dir):
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = os.path.join(output_dir, "metadata.sqlite")
    return metadata_store.MetadataStore(connection)


def _span_of(store, examples_uri):
    [artifact] = [artifact for artifact in store.get_artifacts_by_type("Examples") if artifact.uri == examples_uri]
    return artifact.properties["span"].int_value, artifact.custom_properties["span"].int_value


@pytest.mark.e2e
def test_extract_takes_the_latest_span_or_the_one_asked_and_train_spans_gives_transform_the_latest_spans(demo_dataset, tmp_path, capsys):
    data_root, output_dir = _spans_root(demo_dataset, tmp_path), str(tmp_path / "out")
    latest = _extract(data_root, output_dir)
    assert (latest["span"], latest["data_root"], sum(latest["splits"].values())) == (2, os.path.join(data_root, "span-2"), 24)
    first = _extract(data_root, output_dir, "--span", "1")
    assert (first["span"], sum(first["splits"].values())) == (1, 20)
    store = _store(output_dir)
    assert _span_of(store, latest["examples_uri"]) == (2, 2) and _span_of(store, first["examples_uri"]) == (1, 1)
    capsys.readouterr()
    assert pipeline_runner.main(["extract", "--data-root", data_root, "--output-dir", output_dir, *SMALL, "--span", "3"]) == 2
    assert capsys.readouterr().err.strip() == f"error: span 3 is not in {data_root}: it holds spans 1, 2"

    settings = runner.RunSettings(
        output_dir=output_dir,
        pipeline=configs.PipelineConfig(
            data_root=data_root,
            extraction=ExtractionConfig.of(weights="none", max_seq_length=8, image_size=32),
            spans=configs.SpanConfig(train_spans=3),  # only 2 spans are extracted: a warning, not silence
        ),
    )
    summary = runner.run(settings, last_component="Transform")
    assert summary["span"] == 2 and "VideoExampleGen" in summary["cached_components"]
    assert summary["run_warnings"] == ["--train-spans 3: only spans 1, 2 are extracted, so the Trainer reads those 2"]
    types = {execution_type.id: execution_type.name.split(".")[-1] for execution_type in store.get_execution_types()}
    examples_type = store.get_artifact_type("Examples").id
    spans_read = {}
    for execution in store.get_executions():
        inputs = [
            event.artifact_id for event in store.get_events_by_execution_ids([execution.id]) if event.type == metadata_store_pb2.Event.INPUT
        ]
        examples = [artifact for artifact in store.get_artifacts_by_id(inputs) if artifact.type_id == examples_type]
        spans_read[types[execution.type_id]] = sorted(artifact.properties["span"].int_value for artifact in examples)
    assert spans_read["Transform"] == [1, 2]  # and the Trainer and Tuner: the same channel
    assert spans_read["StatisticsGen"] == [2]

    # Span 1's Examples hold 8 frames a clip: a run whose span 2 would hold 6 is refused before anything runs
    # (Transform would fail on span 1's first Example, inside Beam).
    capsys.readouterr()
    shorter = ["--weights", "none", "--max-seq-length", "6", "--image-size", "32", "--train-spans", "2"]
    assert pipeline_runner.main(["run", "--data-root", data_root, "--output-dir", output_dir, *shorter]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --train-spans 2: the spans to train on would hold features made differently: span 1 has max_seq_length 8, "
        "span 2 6 (extract those spans again with these settings and --no-cache (with the cache, extract hands back their "
        "earlier extraction, and the newer one stays the one trained on), or train on fewer spans)"
    )


def test_spans_whose_features_were_made_differently_are_not_trained_on_together(tmp_path):
    from trainer import data

    train_files = []
    for span, image_size in ((1, 128), (2, 160)):
        examples_uri = tmp_path / f"examples_{span}"
        (examples_uri / "Split-train").mkdir(parents=True)
        report = {**ExtractionConfig.of(image_size=image_size).as_dict(), "weights_id": "imagenet", "span": span}
        (examples_uri / "extraction_report.json").write_text(json.dumps(report))
        train_files.append(str(examples_uri / "Split-train" / "*"))
    with pytest.raises(ValueError, match="span 1 has image_size 128, span 2 160"):
        data.extraction_report(types.SimpleNamespace(train_files=train_files))
    assert data.extraction_report(types.SimpleNamespace(train_files=train_files[1:]))["image_size"] == 160


def test_the_eval_clips_the_stream_choice_is_made_on_are_counted_over_every_span_from_the_reports(tmp_path):
    from trainer import data

    eval_files = []
    for span, eval_clips in ((1, 6), (2, 9)):
        examples_uri = tmp_path / f"examples_{span}"
        (examples_uri / "Split-eval").mkdir(parents=True)
        report = {**ExtractionConfig.of().as_dict(), "span": span, "splits": {"train": 30, "eval": eval_clips, "test": 12}}
        (examples_uri / "extraction_report.json").write_text(json.dumps(report))
        eval_files.append(str(examples_uri / "Split-eval" / "*"))
    assert data.eval_clip_count(types.SimpleNamespace(eval_files=eval_files)) == 15
    assert data.eval_clip_count(types.SimpleNamespace(eval_files=eval_files[:1])) == 6


@pytest.mark.e2e
def test_spans_of_another_data_root_are_refused_and_the_refusals_advice_works(demo_dataset, tmp_path, capsys):
    data_root, output_dir = _spans_root(demo_dataset, tmp_path), str(tmp_path / "out")
    _extract(data_root, output_dir, "--span", "1")
    _extract(data_root, output_dir)
    other_root = tmp_path / "other"
    shutil.copytree(os.path.join(data_root, "span-2"), other_root / "span-2")
    capsys.readouterr()
    run = ["run", "--output-dir", output_dir, *SMALL, "--train-spans", "2", "--epochs", "1"]
    assert pipeline_runner.main([*run, "--data-root", str(other_root)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --train-spans 2: span 1 was extracted from {os.path.join(data_root, 'span-1')}, span 1 is not in {other_root}: "
        "it holds spans 2; train on fewer spans, or extract that span from this data root"
    )

    # Span 1 extracted again with other settings is the one the rolling range picks; the refusal's advice must
    # bring back span 1 with this run's settings.
    _extract(data_root, output_dir, "--span", "1", "--image-size", "48")
    capsys.readouterr()
    assert pipeline_runner.main([*run, "--data-root", data_root]) == 2
    advice = capsys.readouterr().err.strip()
    assert "span 1 has image_size 48, span 2 32" in advice and "--no-cache" in advice
    _extract(data_root, output_dir, "--span", "1", "--no-cache")
    settings = runner.RunSettings(
        output_dir=output_dir,
        pipeline=configs.PipelineConfig(
            data_root=data_root,
            extraction=ExtractionConfig.of(weights="none", max_seq_length=8, image_size=32),
            spans=configs.SpanConfig(train_spans=2),
        ),
    )
    runner.check_inputs(settings)  # no refusal


def test_the_driver_resolves_the_span_and_fingerprints_its_manifest(demo_dataset, tmp_path):
    """VideoDriver as TFX's driver calls it: the latest span (or the one asked) by video_datasets/spans.py, that
    folder's own spelling in the input patterns (which the executor reads it from), and the fingerprint of that
    span's manifest; the patterns named for the files they cover, not for splits."""
    from tfx.components.example_gen import utils as example_gen_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_component_specs
    from tfx.utils import proto_utils

    from components.video_example_gen.component import VideoDriver, VideoExampleGen, input_fingerprint

    data_root = _spans_root(demo_dataset, tmp_path)
    os.rename(os.path.join(data_root, "span-2"), os.path.join(data_root, "span-02"))
    for span, folder in ((spans.LATEST, "span-02"), (1, "span-1")):
        component = VideoExampleGen(data_root=data_root, span=span)
        exec_properties = {
            name: proto_utils.proto_to_json(value) if hasattr(value, "DESCRIPTOR") else value
            for name, value in component.exec_properties.items()
        }
        resolved = VideoDriver(None).resolve_exec_properties(exec_properties, None, None)
        input_config = proto_utils.json_to_proto(resolved[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        assert [(split.name, split.pattern) for split in input_config.splits] == [
            ("listing_files", f"{folder}/*"),
            ("clips", f"{folder}/*/*"),
        ]
        assert resolved[example_gen_utils.SPAN_PROPERTY_NAME] == int(folder.split("-")[1])
        assert resolved[example_gen_utils.FINGERPRINT_PROPERTY_NAME] == input_fingerprint(os.path.join(data_root, folder))
