"""Large-file handling: which files go through Git LFS, and one-time upload tickets.

The client's LFS ``PUT`` carries no ``Authorization`` header, so the batch endpoint hands
out an upload URL with a random ticket naming the repo, the object's sha256 and size; the
first upload that succeeds uses it up (a failed attempt, which the client retries, does not).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import PurePosixPath

REGULAR_MAX_BYTES = 10 * 1024 * 1024

LFS_SUFFIXES = frozenset(
    ".7z .arrow .bin .bz2 .ckpt .ftz .gz .h5 .joblib .mlmodel .model .msgpack .npy .npz .onnx "
    ".ot .parquet .pb .pickle .pkl .pt .pth .rar .safetensors .tar .tflite .tgz .wasm .xz .zip "
    ".zst .mp4 .webm .avi .mov .mkv .gif .png .jpg .jpeg .webp .bmp .tif .tiff .mp3 .wav .ogg "
    ".flac .pdf".split()
)


def upload_mode(path: str, size: int, sample: bytes) -> str:
    """``"lfs"`` or ``"regular"`` for a non-empty file, decided like the Hub: LFS for known
    binary extensions, anything over 10 MB and a sample holding a NUL byte."""
    pure = PurePosixPath(path)
    binary = pure.suffix.lower() in LFS_SUFFIXES or "tfevents" in pure.name or b"\0" in sample
    return "lfs" if size != 0 and (size > REGULAR_MAX_BYTES or binary) else "regular"


@dataclass(frozen=True)
class Ticket:
    """Permission to upload one LFS object to one repo."""

    repo_id: str
    oid: str
    size: int
    expires: float


class TicketBook:
    """One-time upload tickets, kept in memory. They all live ``lifetime_s``, so insertion
    order is expiry order: issuing one drops the expired (and, beyond ``max_tickets``, the
    oldest) from the front."""

    def __init__(self, lifetime_s: float = 3600.0, max_tickets: int = 100_000) -> None:
        self.lifetime_s = lifetime_s
        self.max_tickets = max_tickets
        self._tickets: dict[str, Ticket] = {}
        self._lock = threading.Lock()

    def issue(self, repo_id: str, oid: str, size: int) -> str:
        """Create a ticket and return its secret.

        Args:
            repo_id: the repo the object may be uploaded to.
            oid: the object's sha256.
            size: its size in bytes.
        """
        secret = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            while self._tickets:
                oldest = next(iter(self._tickets))
                if self._tickets[oldest].expires >= now and len(self._tickets) < self.max_tickets:
                    break
                del self._tickets[oldest]
            self._tickets[secret] = Ticket(repo_id, oid, size, now + self.lifetime_s)
        return secret

    def __len__(self) -> int:
        with self._lock:
            return len(self._tickets)

    def peek(self, secret: str) -> Ticket | None:
        """The ticket, if it is known and not expired (it stays valid)."""
        with self._lock:
            return _unexpired(self._tickets.get(secret))

    def redeem(self, secret: str) -> Ticket | None:
        """Consume a ticket; None when it is unknown, used or expired."""
        with self._lock:
            return _unexpired(self._tickets.pop(secret, None))


def _unexpired(ticket: Ticket | None) -> Ticket | None:
    return ticket if ticket is not None and ticket.expires >= time.monotonic() else None
