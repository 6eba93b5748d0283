"""Parse iCalendar documents with libical (gir1.2-ical-3.0) and report its complaints.

Run by the system Python (python3-gi), not the project's venv: reads a JSON list of texts on
stdin, prints a JSON list of problems ("document N: ..."), empty when libical accepts all.
"""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402


def problems(index, text):
    component = ICalGLib.Component.new_from_string(text)
    if component is None:
        return [f"document {index}: libical cannot parse it"]
    found = []
    for line in component.as_ical_string().replace("\r\n ", "").splitlines():
        if line.startswith("X-LIC-ERROR"):
            found.append(f"document {index}: {line}")
    return found


def main():
    documents = json.load(sys.stdin)
    report = []
    for index, text in enumerate(documents):
        report.extend(problems(index, text))
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
