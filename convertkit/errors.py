"""Error types. Each carries the file, the layer and the cause; the CLI turns any of
them into one line on stderr and exit code 2 (convertkit/cli.py, in one place)."""
from __future__ import annotations


class ConvertError(Exception):
    """Base of every error convertkit reports to a user."""

    def __init__(self, message: str, *, path: str | None = None, layer: str | None = None):
        self.path = str(path) if path is not None else None
        self.layer = layer
        self.cause = message
        super().__init__(message)

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.layer:
            where.append(f"layer '{self.layer}'")
        return f"{': '.join(where)}: {self.cause}" if where else self.cause


class InputFileError(ConvertError):
    """A file is missing, unreadable or of the wrong kind."""


class PrototxtError(ConvertError):
    """The network definition cannot be parsed (syntax, unknown field, bad V1 upgrade)."""


class CaffemodelError(ConvertError):
    """The binary weights are truncated, corrupt or carry bytes no field accounts for."""


class WeightMismatchError(ConvertError):
    """The caffemodel's blobs do not fit the prototxt's layers (missing, count, shape)."""


class UnsupportedLayerError(ConvertError):
    """The net uses layer types convertkit has no module for."""


class ShapeError(ConvertError):
    """Shape inference found an inconsistency (e.g. an Eltwise of 128x256 and 129x257)."""


class UsageError(ConvertError):
    """A request convertkit cannot honour (bad option value, unknown zoo name, size)."""


class FileKindError(InputFileError):
    """A file is of another kind than the one asked for (an image given as the
    caffemodel, a pickle given as an input array). Reads "X is a PNG image, not ...":
    the cause follows the file name without a colon."""

    def __str__(self) -> str:
        return f"{self.path} {self.cause}" if self.path else self.cause


class PrototxtKindError(FileKindError, PrototxtError):
    """What was given as the prototxt is some other kind of file."""


class CaffemodelKindError(FileKindError, CaffemodelError):
    """What was given as the caffemodel is some other kind of file."""


class OutputFileError(ConvertError):
    """An output cannot be written where asked: it exists (and --force was not
    given), it is one of the inputs, or its extension does not fit what is written."""


class MappingError(ConvertError):
    """A mapping table cannot be read (TOML syntax, an unknown field, a bad rule), or
    does not fit the net: Caffe params no rule maps, target keys produced twice,
    shapes that disagree. ``problems`` lists every offender; the message names them
    all at once."""

    def __init__(self, message: str, *, problems: list[str] | None = None,
                 path: str | None = None, layer: str | None = None):
        self.problems = list(problems or [])
        super().__init__(message, path=path, layer=layer)
