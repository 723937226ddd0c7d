"""Small Arrow arrays built straight from buffers.

`pyarrow.array` imports pandas the first time it runs, to ask whether its input is
a pandas object: 0.2-0.3 s at the start of every day's parse and as much again at
exit (measured, issue 21), for a library no run uses. These build the same arrays
from numpy memory or a few Python values without that import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

INT64 = pa.int64()
STRING = pa.string()


def int_array(values: np.ndarray | Sequence[int], type: pa.DataType = INT64) -> pa.Array:  # noqa: A002
    """Integers as an Arrow array of `type` (int32 or int64)."""
    data = np.ascontiguousarray(values, dtype=type.to_pandas_dtype())
    return pa.Array.from_buffers(type, len(data), [None, pa.py_buffer(data)])


def text_array(values: Sequence[str | bytes], type: pa.DataType = STRING) -> pa.Array:  # noqa: A002
    """Texts (str, as UTF-8) or bytes as an Arrow array of `type`: string, large_string,
    binary or large_binary."""
    encoded = [v.encode() if isinstance(v, str) else v for v in values]
    large = type in (pa.large_string(), pa.large_binary())
    offsets = np.zeros(len(encoded) + 1, np.int64 if large else np.int32)
    np.cumsum([len(v) for v in encoded], out=offsets[1:])
    return pa.Array.from_buffers(type, len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
