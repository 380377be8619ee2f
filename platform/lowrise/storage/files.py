"""Where attachment bytes live: content-addressed files under the instance folder."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from pathlib import Path

from lowrise.fields.file import FileUpload


class FileStore:
    """Files by the SHA-256 of their content; a record stores {name, key, size, type}."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("not a file key")
        return self.root / key[:2] / key

    def put(self, up: FileUpload) -> dict:
        key = hashlib.sha256(up.data).hexdigest()
        dest = self.path(key)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=dest.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(up.data)
            os.replace(tmp, dest)
        ctype = up.content_type or mimetypes.guess_type(up.name)[0] or "application/octet-stream"
        name = os.path.basename(up.name.replace("\\", "/")) or "file"
        return {"name": name, "key": key, "size": up.size, "type": ctype}

    def open(self, key: str):
        return self.path(key).open("rb")
