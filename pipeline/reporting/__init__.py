"""Everything a run tells: run_summary.json (read back from ML Metadata), the report pictures and page, the console lines.

    summary = summarize_run(metadata_path, pipeline_name, since_ms)
    publish(summary, output_dir)            # OUTPUT_DIR/run_summary.json and, after an evaluation, OUTPUT_DIR/report/
    print(console_summary(summary, summary_path(output_dir)))
"""
from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from pipeline import runner
from pipeline.reporting.console import console_summary
from pipeline.reporting.summary import summarize_run

SUMMARY_FILE = "run_summary.json"
REPORT_DIR = "report"

__all__ = ["console_summary", "mark_in_progress", "publish", "summarize_run", "summary_path"]
PREVIOUS_SUFFIX = ".previous"  # run_summary.previous.json, report.previous/: the last run's, kept while a run is under way


def summary_path(output_dir: str) -> str:
    return os.path.join(output_dir, SUMMARY_FILE)


def mark_in_progress(output_dir: str) -> None:
    """At a run's start: the previous run's summary and report move aside (run_summary.previous.json,
    report.previous/) and run_summary.json says the run is under way, so that a run that is killed never leaves an
    older, complete-looking result."""
    summary, report = summary_path(output_dir), os.path.join(output_dir, REPORT_DIR)
    if os.path.exists(summary) and _status(summary) != "running":  # a killed run's marker is no result to keep
        os.replace(summary, os.path.join(output_dir, "run_summary" + PREVIOUS_SUFFIX + ".json"))
    if os.path.isdir(report):
        shutil.rmtree(report + PREVIOUS_SUFFIX, ignore_errors=True)
        os.replace(report, report + PREVIOUS_SUFFIX)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    runner.write_atomically(summary, json.dumps({"status": "running", "pid": os.getpid(), "started": started}, indent=2))


def _status(summary_file_path: str) -> Any:
    try:
        with open(summary_file_path, encoding="utf-8") as summary_file:
            return json.load(summary_file).get("status", "complete")  # summaries of older runs had no status
    except (OSError, ValueError, AttributeError):
        return None


def publish(summary: dict[str, Any], output_dir: str) -> None:
    """Writes the report (when the run evaluated a model) and run_summary.json; the report's paths go into the summary."""
    if "test_accuracy" in summary:
        from pipeline.reporting.report import write_report

        summary["report"] = write_report(summary, os.path.join(os.path.abspath(output_dir), REPORT_DIR))
    runner.write_atomically(summary_path(output_dir), json.dumps({"status": "complete", **summary}, indent=2))
