"""Structural check of MATLAB v5 .mat files before scipy parses them (private).

scipy's compiled v5 reader can crash the interpreter (segmentation fault) on
damaged files, e.g. a data-element tag with an unknown type or a size that
runs past its parent. Walking the tagged-element tree first (types, sizes,
nesting, zlib streams) turns such files into a
:class:`~voltlab.errors.DataFormatError` instead.

Format (MathWorks, "MAT-File Format", Level 5): a 128-byte header (text,
subsystem offset, version, endian indicator ``IM``/``MI``), then data
elements. Each element has an 8-byte tag (type, byte count) or a 4-byte
"small element" tag (byte count in the upper 16 bits, at most 4 data
bytes), data, and padding to 8 bytes; ``miMATRIX`` (14) holds sub-elements,
``miCOMPRESSED`` (15) a zlib stream of elements.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from pathlib import Path

from voltlab.errors import DataFormatError

__all__ = ["check_mat5"]

# data type -> element size in bytes (None: container)
_TYPES: dict[int, int | None] = {
    1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8,
    14: None, 15: None, 16: 1, 17: 2, 18: 4,
}
_MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED = 5, 6, 14, 15
_MAX_DEPTH = 64
_MAX_INFLATED_BYTES = 2 << 30


class _StructureError(Exception):
    """Internal: structural problem at a byte offset."""


def check_mat5(path: Path) -> None:
    """Raise :class:`DataFormatError` unless ``path`` is a structurally sound v5 .mat file.

    MATLAB v7.3 (HDF5) files are reported as such, so the caller can say
    which reader to use.
    """
    data = path.read_bytes()
    if len(data) < 128:
        raise DataFormatError(f"too short for a MATLAB .mat file ({len(data)} bytes)", path=path)
    if data[:10] == b"MATLAB 7.3" or data[512:520] == b"\x89HDF\r\n\x1a\n":
        raise DataFormatError("this is a MATLAB v7.3 (HDF5) file, not MATLAB v5", path=path)
    order = {b"IM": "<", b"MI": ">"}.get(data[126:128])
    if order is None:
        raise DataFormatError(
            "not a MATLAB v5 .mat file (no 'IM'/'MI' endian mark at byte 126)", path=path
        )
    try:
        _walk(memoryview(data), 128, len(data), order, 0, [0])
    except _StructureError as exc:
        raise DataFormatError(f"damaged MATLAB v5 file: {exc}", path=path) from exc


def _elements(buf: memoryview, start: int, end: int, order: str, top: bool) -> list[tuple[int, int, int]]:
    """Validated (type, byte count, data offset) of the tagged elements in ``buf[start:end]``."""
    out = []
    pos = start
    while pos < end:
        if end - pos < 8:
            if top and not any(buf[pos:end]):
                break  # trailing zero padding
            raise _StructureError(f"truncated element tag at byte {pos}")
        first, second = struct.unpack_from(order + "II", buf, pos)
        small_bytes = first >> 16
        if small_bytes:
            mdtype = first & 0xFFFF
            if small_bytes > 4 or _TYPES.get(mdtype) is None or small_bytes % (_TYPES[mdtype] or 1):
                raise _StructureError(f"invalid small element (type {mdtype}, {small_bytes} bytes) at byte {pos}")
            out.append((mdtype, small_bytes, pos + 4))
            pos += 8
            continue
        mdtype, nbytes = first, second
        if mdtype not in _TYPES:
            raise _StructureError(f"unknown data type {mdtype} at byte {pos}")
        body, stop = pos + 8, pos + 8 + nbytes
        if stop > end:
            raise _StructureError(f"element at byte {pos} claims {nbytes} bytes, past the end of its container")
        size = _TYPES[mdtype]
        if size is not None and nbytes % size:
            raise _StructureError(f"element at byte {pos}: {nbytes} bytes is not a whole number of items")
        out.append((mdtype, nbytes, body))
        # compressed elements are not padded to 8 bytes
        pos = stop if mdtype == _MI_COMPRESSED else stop + (-nbytes % 8)
    return out


def _walk(buf: memoryview, start: int, end: int, order: str, depth: int, inflated: list[int]) -> None:
    if depth > _MAX_DEPTH:
        raise _StructureError("elements nested too deeply")
    for mdtype, nbytes, body in _elements(buf, start, end, order, top=depth == 0):
        if mdtype == _MI_MATRIX:
            _check_matrix(buf, body, body + nbytes, order, depth + 1)
        elif mdtype == _MI_COMPRESSED:
            if depth:
                raise _StructureError(f"compressed element nested inside an array at byte {body - 8}")
            _walk_compressed(buf[body:body + nbytes], order, inflated)


def _walk_compressed(chunk: memoryview, order: str, inflated: list[int]) -> None:
    try:
        plain = zlib.decompressobj().decompress(bytes(chunk), _MAX_INFLATED_BYTES - inflated[0])
    except zlib.error as exc:
        raise _StructureError(f"broken compressed element ({exc})") from exc
    inflated[0] += len(plain)
    if inflated[0] >= _MAX_INFLATED_BYTES:
        raise _StructureError("compressed elements inflate beyond 2 GiB")
    for mdtype, nbytes, body in _elements(memoryview(plain), 0, len(plain), order, top=True):
        if mdtype != _MI_MATRIX:
            raise _StructureError("a compressed element must hold an array")
        _check_matrix(memoryview(plain), body, body + nbytes, order, 1)


_NUMERIC_CLASSES = frozenset(range(6, 16)) | {4}  # double..uint64, char
_CONTAINER_CLASSES = frozenset({1, 2, 3})  # cell, struct, object
_SPARSE_CLASS = 5
_FLAG_BITS = 0x0E  # complex, global, logical


def _check_matrix(buf: memoryview, start: int, stop: int, order: str, depth: int) -> None:
    """An miMATRIX: array flags, dimensions, name, then data consistent with them."""
    if depth > _MAX_DEPTH:
        raise _StructureError("arrays nested too deeply")
    if start == stop:
        return  # empty matrix (e.g. an empty cell)
    elems = _elements(buf, start, stop, order, top=False)
    if len(elems) < 3:
        raise _StructureError(f"array at byte {start} lacks flags, dimensions or name")
    (f_type, f_bytes, f_at), (d_type, d_bytes, d_at), (n_type, _, _) = elems[:3]
    if f_type != _MI_UINT32 or f_bytes != 8:
        raise _StructureError(f"array flags expected at byte {start}")
    if d_type != _MI_INT32 or d_bytes < 8:
        raise _StructureError(f"array dimensions expected after byte {start}")
    if n_type not in (1, 2, 16):
        raise _StructureError(f"array name expected after byte {start}")
    flags = struct.unpack_from(order + "I", buf, f_at)[0]
    cls, bits = flags & 0xFF, (flags >> 8) & 0xFF
    if not 1 <= cls <= 17 or bits & ~_FLAG_BITS or flags >> 16:
        raise _StructureError(f"invalid array flags {flags:#x} at byte {f_at}")
    dims = struct.unpack_from(order + f"{d_bytes // 4}i", buf, d_at)
    if any(d < 0 for d in dims):
        raise _StructureError(f"negative array dimension at byte {d_at}")
    data = elems[3:]
    if cls in _NUMERIC_CLASSES:
        n_items = 1
        for d in dims:
            n_items *= d
        expected = 2 if bits & 0x08 else 1
        if len(data) != expected:
            raise _StructureError(f"array at byte {start}: {len(data)} data part(s), expected {expected}")
        for mdtype, nbytes, at in data:
            size = _TYPES[mdtype]
            if cls == 4 and mdtype == 16 and nbytes >= n_items:
                continue  # UTF-8 text: multi-byte characters
            if size is None or nbytes // size != n_items:
                raise _StructureError(f"array data at byte {at} does not match its dimensions {dims}")
    elif cls == _SPARSE_CLASS:
        _check_sparse(buf, dims, bool(bits & 0x08), data, order, start)
    elif cls in _CONTAINER_CLASSES:
        for mdtype, nbytes, body in data:
            if mdtype == _MI_MATRIX:
                _check_matrix(buf, body, body + nbytes, order, depth + 1)
            elif mdtype == _MI_COMPRESSED:
                raise _StructureError(f"compressed element nested inside an array at byte {body - 8}")


def _check_sparse(
    buf: memoryview, dims: tuple[int, ...], is_complex: bool,
    data: list[tuple[int, int, int]], order: str, start: int,
) -> None:
    """Sparse (CSC) array: row indices ir, column starts jc, real [and imaginary] values."""
    if len(dims) != 2 or len(data) != (4 if is_complex else 3):
        raise _StructureError(f"sparse array at byte {start} is not 2-D (ir, jc, values)")
    (ir_t, ir_b, ir_at), (jc_t, jc_b, jc_at) = data[0], data[1]
    if ir_t != _MI_INT32 or jc_t != _MI_INT32:
        raise _StructureError(f"sparse array at byte {start}: indices must be int32")
    n_rows, n_cols = dims
    ir = struct.unpack_from(order + f"{ir_b // 4}i", buf, ir_at)
    jc = struct.unpack_from(order + f"{jc_b // 4}i", buf, jc_at)
    value_counts = []
    for mdtype, nbytes, _ in data[2:]:
        size = _TYPES[mdtype]
        if size is None:
            raise _StructureError(f"sparse array at byte {start}: values must be numbers")
        value_counts.append(nbytes // size)
    nnz = jc[-1] if jc else -1
    if (
        len(jc) != n_cols + 1 or jc[0] != 0 or any(b < a for a, b in itertools.pairwise(jc))
        or nnz > len(ir) or any(c < nnz for c in value_counts)
        or any(not 0 <= r < n_rows for r in ir[:nnz])
    ):
        raise _StructureError(f"sparse array at byte {start} has inconsistent indices")
