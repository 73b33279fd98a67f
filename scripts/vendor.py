#!/usr/bin/env python3
"""Refresh the vendored JavaScript and CSS in safetycheck/web/static/vendor/ from the npm registry.

Run through `./dev vendor`. It installs the pinned packages with npm in a temporary folder,
compiles GOV.UK Frontend's Sass with our settings (a system font stack instead of GDS
Transport, which is reserved for GOV.UK), copies the built files in, and records each
library's name, version, licence, source and integrity in vendor/VENDORED.json and
vendor/README.md, with the licence texts beside the files. The results are committed: running
the service or the tests never needs npm.

Only the standard library is used, so this runs with any Python 3.11.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "safetycheck" / "web" / "static" / "vendor"
GOVUK_SCSS = Path(__file__).resolve().parent / "govuk-frontend.scss"

# govuk-frontend must be exactly the release that the pinned govuk-frontend-jinja targets
# (pyproject.toml; the compatibility table in its README): 4.1.0 targets 6.3.0. The macros
# and the CSS disagree otherwise.
GOVUK_FRONTEND = "6.3.0"
# htmx 2 rather than 4.0: 4.0 (September 2026) renames events and attributes; 2.0.x is the
# maintained line the examples and documentation describe.
HTMX = "2.0.11"
CHART_JS = "4.6.1"
# Build tool only (compiles the GOV.UK Sass); nothing of it is vendored.
SASS = "1.108.2"

# The npm package of govuk-frontend ships no licence file; its package.json says MIT and its
# README's "Licence" section says the code is MIT, copyright the Government Digital Service.
GOVUK_LICENCE = """The MIT License (MIT)

Copyright (c) 2018 Crown Copyright (Government Digital Service)

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


@dataclass
class Library:
    name: str  # the npm package
    version: str
    files: dict[str, str]  # path in the package -> name in vendor/<folder>/
    folder: str
    licence_files: list[str] = field(default_factory=list)  # in the package; copied as LICENSE*
    bundled: list[str] = field(default_factory=list)  # packages built into the files, with licences
    note: str = ""


LIBRARIES = [
    Library(
        name="govuk-frontend",
        version=GOVUK_FRONTEND,
        folder="govuk-frontend",
        files={"dist/govuk/govuk-frontend.min.js": "govuk-frontend.min.js"},
        note=(
            "govuk-frontend.min.css is compiled from the package's Sass by scripts/vendor.py with "
            "scripts/govuk-frontend.scss (system font stack; no GDS Transport font). The crown, "
            "crest, favicons and fonts are not vendored: they are reserved for GOV.UK."
        ),
    ),
    Library(
        name="htmx.org",
        version=HTMX,
        folder="htmx",
        files={"dist/htmx.min.js": "htmx.min.js"},
        licence_files=["LICENSE"],
    ),
    Library(
        name="chart.js",
        version=CHART_JS,
        folder="chart.js",
        files={"dist/chart.umd.min.js": "chart.umd.min.js"},
        licence_files=["LICENSE.md"],
        bundled=["@kurkle/color"],
    ),
]


def run(cmd: list[str], cwd: Path) -> None:
    print("$", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=cwd, check=True)


def main() -> int:
    npm = shutil.which("npm")
    if npm is None:
        print("vendor: npm is needed to refresh the vendored files (they are committed)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="safetycheck-vendor-") as tmp:
        work = Path(tmp)
        (work / "package.json").write_text('{"private": true}\n')
        specs = [f"{lib.name}@{lib.version}" for lib in LIBRARIES] + [f"sass@{SASS}"]
        # --ignore-scripts: nothing from the registry runs here; the packages are files only.
        run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact", *specs], work)
        lock = json.loads((work / "package-lock.json").read_text())["packages"]
        modules = work / "node_modules"

        if VENDOR.exists():
            shutil.rmtree(VENDOR)
        VENDOR.mkdir(parents=True)
        records = []
        for lib in LIBRARIES:
            records.append(vendor_library(lib, modules, lock))
        compile_govuk_css(work)
        write_records(records)
    print(f"vendored into {VENDOR.relative_to(ROOT)}", file=sys.stderr)
    return 0


def vendor_library(lib: Library, modules: Path, lock: dict) -> dict:
    package_dir = modules / lib.name
    meta = json.loads((package_dir / "package.json").read_text())
    if meta["version"] != lib.version:
        raise SystemExit(f"vendor: npm installed {lib.name} {meta['version']}, not {lib.version}")
    target = VENDOR / lib.folder
    target.mkdir(parents=True, exist_ok=True)
    for source, name in lib.files.items():
        shutil.copyfile(package_dir / source, target / name)
    licences = []
    if lib.licence_files:
        for name in lib.licence_files:
            shutil.copyfile(package_dir / name, target / "LICENSE")
            licences.append("LICENSE")
    elif lib.name == "govuk-frontend":
        (target / "LICENSE").write_text(GOVUK_LICENCE)
        licences.append("LICENSE")
    bundled = []
    for dep in lib.bundled:
        dep_dir = modules / dep
        dep_meta = json.loads((dep_dir / "package.json").read_text())
        licence_name = f"LICENSE.{dep.replace('/', '-').lstrip('@')}"
        shutil.copyfile(next(dep_dir.glob("LICENSE*")), target / licence_name)
        entry = lock[f"node_modules/{dep}"]
        bundled.append(
            {
                "name": dep,
                "version": dep_meta["version"],
                "licence": dep_meta["license"],
                "licence_file": licence_name,
                "source": f"npm registry, {dep}@{dep_meta['version']}",
                "integrity": entry["integrity"],
            }
        )
    entry = lock[f"node_modules/{lib.name}"]
    return {
        "name": lib.name,
        "version": lib.version,
        "licence": meta["license"],
        "licence_file": licences[0],
        "homepage": meta.get("homepage", ""),
        "source": f"npm registry, {lib.name}@{lib.version}",
        "integrity": entry["integrity"],
        "folder": lib.folder,
        "files": sorted(
            [*lib.files.values(), *(["govuk-frontend.min.css"] if lib.name == "govuk-frontend" else [])]
        ),
        "bundled": bundled,
        "note": lib.note,
    }


def compile_govuk_css(work: Path) -> None:
    """Compile GOV.UK Frontend with our settings: a system font stack, so no GDS Transport."""
    shutil.copyfile(GOVUK_SCSS, work / "govuk-frontend.scss")
    out = VENDOR / "govuk-frontend" / "govuk-frontend.min.css"
    sass = work / "node_modules" / ".bin" / "sass"
    run([str(sass), "--no-source-map", "--style=compressed", "govuk-frontend.scss", str(out)], work)
    if "GDS Transport" in out.read_text():
        raise SystemExit("vendor: the compiled CSS still names GDS Transport")


def write_records(records: list[dict]) -> None:
    (VENDOR / "VENDORED.json").write_text(
        json.dumps({"build_tools": {"sass": SASS}, "libraries": records}, indent=2) + "\n"
    )
    lines = [
        "# Vendored libraries",
        "",
        "Written by `./dev vendor` (scripts/vendor.py); do not edit by hand. The same facts, for",
        "machines, are in VENDORED.json.",
        "",
        "| library | version | licence | files | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in records:
        files = ", ".join(f"`{r['folder']}/{f}`" for f in r["files"])
        lines.append(
            f"| {r['name']} | {r['version']} | {r['licence']} (`{r['folder']}/{r['licence_file']}`) "
            f"| {files} | {r['source']} |"
        )
        for b in r["bundled"]:
            lines.append(
                f"| {b['name']} (built into {r['name']}) | {b['version']} | {b['licence']} "
                f"(`{r['folder']}/{b['licence_file']}`) | | {b['source']} |"
            )
    lines += ["", f"Build tool (not vendored): sass {SASS} (MIT), compiles govuk-frontend.min.css.", ""]
    lines += [f"- {r['name']}: {r['note']}" for r in records if r["note"]]
    (VENDOR / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
