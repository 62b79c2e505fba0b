"""Everything a run tells: run_summary.json (read back from ML Metadata), the report pictures and page, the console lines.

summary = summarize_run(metadata_path, pipeline_name, since_ms)
publish(summary, output_dir)            # OUTPUT_DIR/run_summary.json and, after an evaluation, OUTPUT_DIR/report/
print(console_summary(summary, summary_path(output_dir)))
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import run_files
from pipeline.reporting.console import console_summary
from pipeline.reporting.summary import summarize_run

SUMMARY_FILE = "run_summary.json"
REPORT_DIR = "report"

__all__ = ["console_summary", "mark_in_progress", "publish", "summarize_run", "summary_path"]


def summary_path(output_dir: str) -> str:
    return os.path.join(output_dir, SUMMARY_FILE)


def mark_in_progress(output_dir: str) -> None:
    """At a run's start: the previous run's summary and report move aside (run_summary.previous.json,
    report.previous/) and run_summary.json says the run is under way (run_files.start_outputs)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run_files.start_outputs(output_dir, (SUMMARY_FILE, REPORT_DIR), SUMMARY_FILE, {"pid": os.getpid(), "started": started})


def publish(summary: dict[str, Any], output_dir: str) -> None:
    """Writes the report (when the run evaluated a model) and run_summary.json; the report's paths go into the summary."""
    if "test_accuracy" in summary:
        from pipeline.reporting.report import write_report

        summary["report"] = write_report(summary, os.path.join(os.path.abspath(output_dir), REPORT_DIR))
    run_files.write_atomically(summary_path(output_dir), json.dumps({"status": "complete", **summary}, indent=2))
