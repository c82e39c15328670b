"""``midiforge download URL|NAME``: fetch a MIDI dataset archive into the cache, safely."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.table import Table

from midiforge import paths
from midiforge.cli.common import console
from midiforge.download import MIDI_PATTERN, DatasetSource, dataset_name, fetch_dataset
from midiforge.registry import registry


def downloadable_corpora() -> dict[str, object]:
    """Registered corpora that know their download URL (built-in: maestro, lmd-clean, ...)."""
    reg = registry()
    corpora = (reg.get("corpus", name) for name in reg.names("corpus"))
    return {c.name: c for c in corpora if getattr(c, "url", None)}


def _list_datasets() -> None:
    table = Table(title="downloadable datasets")
    for column in ("name", "description", "license", "sha256 pinned"):
        table.add_column(column)
    for name, corpus in downloadable_corpora().items():
        table.add_row(
            name, corpus.description, getattr(corpus, "license", ""), "yes" if corpus.sha256 else "no"
        )
    console.print(table)


@click.command("download")
@click.argument("source", required=False)
@click.option("--sha256", help="Expected sha256 of the archive (URLs only; named datasets pin their own).")
@click.option("--name", help="Cache folder name for a URL (default: from the URL).")
@click.option("--include", default=MIDI_PATTERN, show_default=True, help="Regex on member paths to extract.")
@click.option("--force", is_flag=True, help="Download and extract again even if cached.")
@click.option("--keep-archive", is_flag=True, help="Keep the archive after extraction.")
@click.option("--list", "list_only", is_flag=True, help="List the named datasets and exit.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the MIDI files into this folder (files already there are kept, never replaced).")
def command(
    source: str | None,
    sha256: str | None,
    name: str | None,
    include: str,
    force: bool,
    keep_archive: bool,
    list_only: bool,
    out: Path | None,
) -> None:
    """Download a MIDI dataset archive (zip or tar) and extract its MIDI files into the cache.

    SOURCE is a named dataset (see --list), an http(s) URL, or a local archive file. Downloads
    resume after interruptions, are checked against a sha256 when one is known, and archives
    with unsafe members (path traversal, links, zip bombs) are refused.
    """
    if list_only or not source:
        _list_datasets()
        if not source and not list_only:
            console.print("Pass a dataset name or a URL: midiforge download maestro")
        return
    named = downloadable_corpora().get(source)
    if named is not None:
        dataset, folder_name = named.source, named.name
    else:
        dataset, folder_name = DatasetSource(source, sha256, include), name or dataset_name(source)
    files = fetch_dataset(dataset, name=folder_name, force=force, keep_archive=keep_archive)
    console.print(
        f"[green]{len(files)} MIDI files[/green] in {paths.cache_dir('downloads') / folder_name / 'midi'}",
        soft_wrap=True,
    )
    if out is not None:
        copied, kept = copy_into(files, paths.cache_dir("downloads") / folder_name / "midi", out)
        console.print(f"copied {copied} into {out}" + (f"; kept {kept} files already there" if kept else ""),
                      soft_wrap=True)
    if named is not None:
        console.print(f"Use them with: midiforge prepare --corpus {source}")


def copy_into(files: list[Path], root: Path, out: Path) -> tuple[int, int]:
    """Copy ``files`` (under ``root``) into ``out`` with their sub-folders, each atomically; a file
    already in ``out`` is kept. Returns (copied, kept)."""
    from midiforge.atomic import atomic_path

    copied = kept = 0
    for file in files:
        target = out / file.relative_to(root)
        if target.exists():
            kept += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(file, tmp)
        copied += 1
    return copied, kept
