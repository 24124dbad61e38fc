"""Saving a transcript: where the files go, the size limits, the digest, and no half file under a real name."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.services.closing import storage
from bot.services.closing.storage import (
    FILE_LIMIT,
    MB,
    TICKET_LIMIT,
    FetchError,
    TooLargeError,
    save_transcript,
    sha256_file,
    transcript_dir,
    write_atomically,
)
from bot.services.closing.transcript import Attachment
from tests.services.closing.support import message, status_line, transcript


@dataclass
class FakeCdn:
    """The attachment port over an in-memory CDN. Files are written sparse (`truncate`), so hundreds of
    megabytes cost nothing; like the real fetcher it stops once more than `max_bytes` would arrive."""

    sizes: dict[str, int] = field(default_factory=dict)  # url -> bytes the server really sends
    failures: dict[str, str] = field(default_factory=dict)
    asked: list[tuple[str, int]] = field(default_factory=list)
    honest: bool = True  # False: a broken fetcher that writes past max_bytes without saying so

    async def fetch(self, url: str, destination: Path, *, max_bytes: int) -> int:
        self.asked.append((url, max_bytes))
        if url in self.failures:
            raise FetchError(self.failures[url])
        size = self.sizes[url]
        with destination.open("wb") as file:
            file.truncate(size if not self.honest else min(size, max_bytes + 1))
        if self.honest and size > max_bytes:
            raise TooLargeError(max_bytes)
        return size


def attachment(n: int, size: int, name: str | None = None) -> Attachment:
    return Attachment(n, name or f"file{n}.bin", size, "application/octet-stream", f"https://cdn.invalid/{n}")


async def test_pages_and_attachments_are_saved_under_guild_and_order_with_the_html_digest(tmp_path: Path) -> None:
    cdn = FakeCdn({"https://cdn.invalid/1": 1234})
    t = transcript(message("the logo", attachments=(attachment(1, 1234, "logo v2.png"),)), status_line())
    saved = await save_transcript(t, data_dir=tmp_path, fetcher=cdn)
    assert saved.directory == tmp_path / "transcripts" / "7001" / "ord_42"
    assert saved.html == saved.directory / "transcript-ord_42.html"
    assert saved.text == saved.directory / "transcript-ord_42.txt"
    assert (saved.directory / "attachments" / "1-logo_v2.png").stat().st_size == 1234
    assert sorted(p.name for p in saved.directory.rglob("*")) == [
        "1-logo_v2.png",
        "attachments",
        "transcript-ord_42.html",
        "transcript-ord_42.txt",
    ]  # fmt: skip  (no temporary file left)
    assert saved.html_sha256 == sha256_file(saved.html) == hashlib.sha256(saved.html.read_bytes()).hexdigest()
    assert (saved.attachments_saved, saved.attachments_listed, saved.attachment_bytes) == (1, 0, 1234)
    assert "saved beside this page as <code>attachments/1-logo_v2.png</code>" in saved.html.read_text()
    assert (
        "logo v2.png (1.2 KB, application/octet-stream): saved as attachments/1-logo_v2.png" in saved.text.read_text()
    )


async def test_a_26_mb_attachment_is_listed_not_saved(tmp_path: Path) -> None:
    cdn = FakeCdn({"https://cdn.invalid/1": 26 * MB, "https://cdn.invalid/2": 10})
    t = transcript(message("big", attachments=(attachment(1, 26 * MB, "movie.mp4"), attachment(2, 10))))
    saved = await save_transcript(t, data_dir=tmp_path, fetcher=cdn)
    assert [url for url, _ in cdn.asked] == ["https://cdn.invalid/2"]  # the big one is not even requested
    assert not list((saved.directory / "attachments").glob("1-*"))
    assert "movie.mp4 (26.0 MB, application/octet-stream): not downloaded: larger than the 25.0 MB limit per file" in (
        saved.text.read_text()
    )
    assert (saved.attachments_saved, saved.attachments_listed) == (1, 1)


async def test_the_ticket_keeps_to_200_mb_and_lists_the_rest(tmp_path: Path) -> None:
    sizes = [24 * MB] * 8 + [10 * MB, 8 * MB, 5 * MB]  # 192 MB, then 10 MB does not fit, 8 MB does, 5 MB not
    files = tuple(attachment(n, size) for n, size in enumerate(sizes, 1))
    cdn = FakeCdn({a.url: a.size for a in files})
    t = transcript(message("first half", attachments=files[:5]), message("second half", attachments=files[5:]))
    saved = await save_transcript(t, data_dir=tmp_path, fetcher=cdn)
    states = [(a.id, a.saved_as is not None) for a in saved.transcript.attachments()]
    assert states == [(n, n not in {9, 11}) for n in range(1, 12)]
    assert saved.attachment_bytes == 200 * MB == TICKET_LIMIT
    assert sum(p.stat().st_size for p in (saved.directory / "attachments").iterdir()) == TICKET_LIMIT
    assert all(limit <= FILE_LIMIT for _, limit in cdn.asked)
    assert cdn.asked[-1] == ("https://cdn.invalid/10", 8 * MB)  # never more than the budget left
    assert (
        "file9.bin (10.0 MB, application/octet-stream): not downloaded: the 200.0 MB limit per ticket was reached"
        in (saved.text.read_text())
    )


async def test_a_server_sending_more_than_it_announced_is_cut_off_and_listed(tmp_path: Path) -> None:
    cdn = FakeCdn({"https://cdn.invalid/1": 30 * MB})
    saved = await save_transcript(transcript(message("x", attachments=(attachment(1, 1 * MB),))), data_dir=tmp_path,
                                  fetcher=cdn)  # fmt: skip
    assert cdn.asked == [("https://cdn.invalid/1", FILE_LIMIT)]
    assert list((saved.directory / "attachments").iterdir()) == []  # the partial file is gone
    only = next(iter(saved.transcript.attachments()))
    assert only.not_saved == "larger than announced, more than 25.0 MB"


async def test_a_fetcher_that_writes_past_its_limit_is_not_trusted(tmp_path: Path) -> None:
    cdn = FakeCdn({"https://cdn.invalid/1": 30 * MB}, honest=False)
    saved = await save_transcript(transcript(message("x", attachments=(attachment(1, 1 * MB),))), data_dir=tmp_path,
                                  fetcher=cdn)  # fmt: skip
    assert list((saved.directory / "attachments").iterdir()) == []
    assert saved.attachment_bytes == 0 and saved.attachments_listed == 1


async def test_failed_downloads_and_no_fetcher_are_listed_with_the_reason(tmp_path: Path) -> None:
    cdn = FakeCdn(failures={"https://cdn.invalid/1": "HTTP 404 (the link expired)"})
    t = transcript(message("x", attachments=(attachment(1, 10),)))
    saved = await save_transcript(t, data_dir=tmp_path, fetcher=cdn)
    assert next(iter(saved.transcript.attachments())).not_saved == "HTTP 404 (the link expired)"
    saved = await save_transcript(t, data_dir=tmp_path / "other", fetcher=None)
    assert next(iter(saved.transcript.attachments())).not_saved == "downloads are off"


async def test_saving_twice_rewrites_the_same_files(tmp_path: Path) -> None:
    t = transcript(message("again", attachments=(attachment(1, 5),)))
    cdn = FakeCdn({"https://cdn.invalid/1": 5})
    first = await save_transcript(t, data_dir=tmp_path, fetcher=cdn)
    second = await save_transcript(t, data_dir=tmp_path, fetcher=cdn)
    assert first.html_sha256 == second.html_sha256 == sha256_file(second.html)
    assert sorted(p.name for p in second.directory.rglob("*")) == sorted(p.name for p in first.directory.rglob("*"))


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    page = tmp_path / "transcript.html"
    write_atomically(page, b"complete, version 1")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(page, b"version 2, never finished")
    assert page.read_bytes() == b"complete, version 1"
    assert os.listdir(tmp_path) == ["transcript.html"]


@pytest.mark.parametrize("order_id", ["../etc", "a/b", "", "x" * 65, "ord 1"])
def test_only_real_order_ids_make_a_folder(tmp_path: Path, order_id: str) -> None:
    with pytest.raises(ValueError):
        transcript_dir(tmp_path, 1, order_id)


async def test_attachment_names_never_leave_the_folder(tmp_path: Path) -> None:
    files = (attachment(1, 3, "../../../etc/passwd"), attachment(2, 3, "..."), attachment(3, 3, "C:\\x\\y.txt"))
    cdn = FakeCdn({a.url: 3 for a in files})
    saved = await save_transcript(transcript(message("x", attachments=files)), data_dir=tmp_path, fetcher=cdn)
    names = sorted(p.name for p in (saved.directory / "attachments").iterdir())
    assert names == ["1-etc_passwd", "2-file", "3-C_x_y.txt"]
    assert not (tmp_path / "etc").exists()
