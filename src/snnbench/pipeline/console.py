"""The console of a Snakemake run: one short line per job started and one per job finished, the
progress every tenth of the run, no line over MAX_LINE characters (issue 24). A logging filter
that Snakefile installs on Snakemake's logger for real runs (a dry run keeps Snakemake's listing);
it reads the records' ``event`` (the logger plugin interface's LogEvent) by name only."""

from __future__ import annotations

import logging
import re
import time

MAX_LINE = 300
_SILENT = "Select jobs to execute..."  # Snakemake's scheduler, once per round: says nothing a job line does not


def clip(text: str, limit: int = MAX_LINE) -> str:
    """Each line of ``text`` cut to ``limit`` characters (the cut marked with …)."""
    return "\n".join(line if len(line) <= limit else line[: limit - 1] + "…" for line in text.split("\n"))


# A configuration mistake is the user's to fix: its message says what and where; the traceback into
# snnbench that Snakemake appends to it says nothing more to them.
_USER_ERRORS = ("ConfigError", "WorkflowError")


class ConfigErrorFilter(logging.Filter):
    """Drops the traceback lines ('  File "...", line N, in ...') from Snakemake's report of a
    ConfigError (or a WorkflowError, the config schema's) raised while it reads the workflow."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "exception", None) in _USER_ERRORS and isinstance(record.msg, str):
            whole = record.getMessage()
            text = whole.split("\n\nFailed validating")[0]  # not the schema's dump, but the setting it names
            where = re.search(r"On instance((?:\[[^\]]+\])+)", whole)
            if where and text != whole:
                keys = re.findall(r"\[([^\]]+)\]", where.group(1))
                text += f" (setting {'.'.join(k.strip(chr(39) + chr(34)) for k in keys)}, {where.group(1)})"
            lines = [line for line in text.split("\n") if not line.startswith('  File "')]
            config_error = record.exception == "ConfigError" or "Error validating config file" in text
            if config_error and " in file " in lines[0]:  # where in the workflow it was found: not the user's file
                lines[0] = "snnbench: configuration error:"
            record.msg = "\n".join(lines)
            record.args = ()
        return True


class ConsoleFilter(logging.Filter):
    def __init__(self, steps: int = 10, bypass=None):
        super().__init__()
        self.steps = steps
        self.bypass = bypass  # a callable: True lets every record through unchanged (a dry run)

    def filter(self, record: logging.LogRecord) -> bool:
        if (self.bypass is not None and self.bypass()) or getattr(record, "exception", None) in _USER_ERRORS:
            return True  # a dry run's listing, and a config mistake's whole message (ConfigErrorFilter's)
        event = getattr(getattr(record, "event", None), "name", None)
        stamp = time.strftime("%H:%M:%S")
        if event == "JOB_STARTED" or (event is None and record.getMessage() == _SILENT):
            return False
        if event == "JOB_INFO":
            wildcards = ", ".join(f"{k}={v}" for k, v in dict(record.__dict__.get("wildcards") or {}).items())
            resources = record.__dict__.get("resources")
            memory = getattr(resources, "mem_mb", None)
            memory = getattr(memory, "value", memory)  # a Resource object, or its value
            memory = f", mem_mb={memory}" if isinstance(memory, int) else ""  # a retry asks for more: say so
            line = f"[{stamp}] rule {record.rule_name}: {wildcards} (jobid {record.jobid}{memory})"
            record.msg, record.args = line, ()
            record.event = None
        elif event == "JOB_FINISHED":
            record.msg, record.args, record.event = f"[{stamp}] {record.getMessage()}", (), None
        elif event == "PROGRESS":
            done, total = record.done, record.total
            return done == total or done % max(1, -(-total // self.steps)) == 0
        elif event == "JOB_ERROR":
            if getattr(record, "shellcmd", None):
                record.shellcmd = clip(" ".join(str(record.shellcmd).split()), MAX_LINE - 8)
            for item in ("input", "output"):  # Snakemake joins each list on one line (the log: shown whole)
                files = [str(f) for f in getattr(record, item, None) or []]
                if len(", ".join(files)) > MAX_LINE - 60:
                    setattr(record, item, [clip(files[0], MAX_LINE - 80), f"and {len(files) - 1} more"])
        elif event in (None, "ERROR") and isinstance(record.msg, str):
            record.msg = clip(record.getMessage())
            record.args = ()
        return True
