"""Saving a transcript under `<DATA_DIR>/transcripts/<guild_id>/<order_id>/`.

Attachments are downloaded first, through the `AttachmentFetcher` port, into `attachments/`
beside the pages: up to 25 MB a file and 200 MB a ticket; a bigger one (or one past the
ticket's budget) is listed by name and size instead. Then the plain-text page and last the
HTML page are written. Every file is written under a temporary name and renamed into place,
so a crash leaves either the previous complete file or none, never a half one under the real
name. Saving again (closing twice) rewrites the same files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from bot.services.closing.render import human_size, render_html, render_text
from bot.services.closing.transcript import Attachment, Transcript

log = logging.getLogger(__name__)

MB = 1024 * 1024
FILE_LIMIT = 25 * MB
TICKET_LIMIT = 200 * MB
ATTACHMENTS = "attachments"
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TooLargeError(Exception):
    """The file is (or turned out to be, while streaming) larger than the bytes allowed for it."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        self.limit, self.size = limit, size
        super().__init__(f"larger than {human_size(limit)}")


class FetchError(Exception):
    """The file could not be downloaded (expired link, HTTP error, network); the text says why."""


class AttachmentFetcher(Protocol):
    async def fetch(self, url: str, destination: Path, *, max_bytes: int) -> int:
        """Download `url` into the new file `destination`; return the bytes written.

        Raise `TooLargeError` as soon as the announced size or the bytes received pass `max_bytes`,
        and `FetchError` for any other failure (the caller removes a partial file)."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    per_file: int = FILE_LIMIT
    per_ticket: int = TICKET_LIMIT


@dataclass(frozen=True, slots=True)
class SavedTranscript:
    """Where a transcript went, and the SHA-256 of its HTML page (for the audit chain's `close` entry)."""

    directory: Path
    html: Path
    text: Path
    html_sha256: str
    transcript: Transcript  # as rendered: each attachment says where it was saved, or why not
    attachments_saved: int
    attachments_listed: int  # listed by name and size only
    attachment_bytes: int


def transcript_dir(data_dir: str | os.PathLike[str], guild_id: int, order_id: str) -> Path:
    if not _ORDER_ID.fullmatch(order_id) or guild_id <= 0:
        raise ValueError(f"not a transcript location: guild {guild_id!r}, order {order_id!r}")
    return Path(data_dir) / "transcripts" / str(int(guild_id)) / order_id


def attachment_name(attachment: Attachment) -> str:
    """`<id>-<filename>` with anything but letters, digits, `.`, `_` and `-` replaced: never a path."""
    safe = _UNSAFE.sub("_", attachment.filename).strip("._") or "file"
    return f"{attachment.id}-{safe[-120:]}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


async def _download(fetcher: AttachmentFetcher, attachment: Attachment, folder: Path, max_bytes: int) -> int:
    name = attachment_name(attachment)
    partial = folder / f".{name}.part"
    try:
        size = await fetcher.fetch(attachment.url, partial, max_bytes=max_bytes)
        if size > max_bytes or partial.stat().st_size > max_bytes:  # a fetcher that broke its contract
            raise TooLargeError(max_bytes, size)
        os.replace(partial, folder / name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return size


def _skip_reason(attachment: Attachment, limits: Limits, left: int) -> str | None:
    if attachment.size > limits.per_file:
        return f"larger than the {human_size(limits.per_file)} limit per file"
    if attachment.size > left:
        return f"the {human_size(limits.per_ticket)} limit per ticket was reached"
    return None


async def download_attachments(
    transcript: Transcript, directory: Path, fetcher: AttachmentFetcher | None, limits: Limits = Limits()
) -> tuple[Transcript, int]:
    """Fetch each attachment in message order within the limits; returns the updated transcript and bytes saved."""
    folder = directory / ATTACHMENTS
    done: dict[int, Attachment] = {}
    used = 0
    for attachment in transcript.attachments():
        reason = _skip_reason(attachment, limits, limits.per_ticket - used)
        if reason is None and fetcher is not None:
            folder.mkdir(parents=True, exist_ok=True)
            max_bytes = min(limits.per_file, limits.per_ticket - used)
            try:
                size = await _download(fetcher, attachment, folder, max_bytes)
            except TooLargeError:
                reason = f"larger than announced, more than {human_size(max_bytes)}"
            except FetchError as exc:
                reason = str(exc) or "download failed"
            else:
                used += size
                done[attachment.id] = replace(attachment, saved_as=f"{ATTACHMENTS}/{attachment_name(attachment)}")
                continue
        reason = reason or "downloads are off"
        log.info("attachment %s of order %s not saved: %s", attachment.id, transcript.header.order_id, reason)
        done[attachment.id] = replace(attachment, not_saved=reason)
    return transcript.with_attachments(done), used


def write_pages(transcript: Transcript, directory: Path) -> tuple[Path, Path, str]:
    """Render and write the text page, then the HTML page; returns both paths and the HTML's SHA-256."""
    directory.mkdir(parents=True, exist_ok=True)
    order_id = transcript.header.order_id
    text_path = directory / f"transcript-{order_id}.txt"
    html_path = directory / f"transcript-{order_id}.html"
    write_atomically(text_path, render_text(transcript).encode())
    html = render_html(transcript).encode()
    write_atomically(html_path, html)
    return html_path, text_path, hashlib.sha256(html).hexdigest()


async def save_transcript(
    transcript: Transcript,
    *,
    data_dir: str | os.PathLike[str],
    fetcher: AttachmentFetcher | None,
    limits: Limits = Limits(),
) -> SavedTranscript:
    """Download the attachments, then write both pages (rendering and disk work off the event loop)."""
    header = transcript.header
    directory = transcript_dir(data_dir, header.guild_id, header.order_id)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    final, used = await download_attachments(transcript, directory, fetcher, limits)
    html_path, text_path, digest = await asyncio.to_thread(write_pages, final, directory)
    saved = sum(1 for a in final.attachments() if a.saved_as)
    listed = sum(1 for a in final.attachments() if not a.saved_as)
    return SavedTranscript(directory, html_path, text_path, digest, final, saved, listed, used)
