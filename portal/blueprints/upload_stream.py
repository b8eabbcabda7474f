"""Reading a multipart upload straight to disk: the file part is written in chunks to a file
under the upload folder as it arrives, never held in memory or in a temporary file elsewhere.

The app's MAX_CONTENT_LENGTH (a few MB) is lifted to IMPORT_MAX_BYTES for this request only.
"""

from __future__ import annotations

import os
import tempfile

from flask import request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

# The form's other fields (kind, the CSRF token, the checkbox) are a few bytes each. Werkzeug
# also applies this to its parse buffer, which holds up to two reads (64 KiB each) of a file
# part: a limit of 64 KiB refused files of a few MB, hence 1 MiB (Flask's own default: 500 KB).
MAX_FIELD_BYTES = 1024 * 1024


def stream_form_to(folder: str, limit: int) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage], list[str]]:
    """Parse the request's multipart form, writing each file part to a new file in ``folder``;
    return the fields, the files (their streams closed) and the paths written.

    Raises RequestEntityTooLarge when the body is over ``limit`` bytes, after deleting every
    file it had started.
    """
    request.max_content_length = limit
    paths: list[str] = []

    def to_disk(total_content_length, content_type, filename, content_length=None):
        handle, path = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=".csv")
        os.close(handle)
        paths.append(path)
        return open(path, "w+b")  # noqa: SIM115 - the parser writes to it; stream_form_to closes it

    parser = FormDataParser(stream_factory=to_disk, max_content_length=limit, max_form_memory_size=MAX_FIELD_BYTES)
    try:
        _, form, files = parser.parse(request.stream, request.mimetype, request.content_length, request.mimetype_params)
    except RequestEntityTooLarge:
        remove_all(paths)
        raise
    for storage in files.values():
        storage.stream.close()
    return form, files, paths


def remove_all(paths: list[str]) -> None:
    """Delete the files at ``paths`` (those already gone are fine)."""
    for path in paths:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
